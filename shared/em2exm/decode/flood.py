"""Marker-based watershed flooding in scikit-image's exact visiting order, on uint8 maps.

scikit-image (>= 0.25) floods from markers with a binary min-heap keyed by (value, age): markers
enter in raster order with age 0, every later push gets the next age and the value
``max(own, parent)``, and a voxel takes its label when it is pushed. Keys tie only between
markers of equal value, and then the heap's sift rules decide the order (on plateaus that moves
thousands of voxels), so this kernel replays the same heap: same pushes, same strict comparisons,
same sift-up / sift-down, same neighbour order (-z, -y, -x, +x, +y, +z). The priority
``255 - foreground`` orders voxels exactly as scikit-image's float ``-foreground``. Heap items are
single uint64 words ``value | age | index`` compared on ``value | age`` only. After the last
marker leaves the heap no keys tie, and per-value FIFO queues replace the heap (same order).
A voxel's foreground value is zeroed once it is labelled, so one byte tells whether a neighbour is
still free.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from em2exm.errors import UserError


def item_bits(n_voxels: int, n_fg: int) -> tuple[int, int]:
    """Bits for the voxel index and the age in a heap item (8 bits hold the value, and the FIFO
    phase keeps an index and a link in 32 bits each); UserError if they do not fit."""
    index_bits = max(int(n_voxels - 1).bit_length(), 1)
    age_bits = int(n_fg + 1).bit_length()
    if index_bits > 32 or index_bits + age_bits > 56:
        raise UserError(
            f"one decode covers {n_voxels} voxels ({n_fg} foreground), too many for one call",
            "decode the volume blockwise (em2exm.decode.BlockPlan, decode_block) in blocks of at most 2**27 voxels",
        )
    return index_bits, age_bits


@njit(cache=True, nogil=True, inline="always")
def _push(heap: np.ndarray, size: int, item: np.uint64, shift: np.uint64) -> int:
    priority = item >> shift
    child = size
    while child > 0:
        parent = (child - 1) >> 1
        above = heap[parent]
        if priority < (above >> shift):
            heap[child] = above
            child = parent
        else:
            break
    heap[child] = item
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def _pop(heap: np.ndarray, size: int, shift: np.uint64) -> np.uint64:
    """Remove the root of a heap of ``size`` items (the new size is ``size - 1``) and return it.

    Bottom-up: the hole walks down the path of smaller children (left on ties) to a leaf, then the
    last item climbs back while its parent is not smaller; this places it exactly where the
    classic sift-down with strict comparisons would (the path's keys never decrease)."""
    top = heap[0]
    size -= 1
    if size > 0:
        last = heap[size]
        priority = last >> shift
        i = 0
        left = 1
        while left < size:
            best = left
            right = left + 1
            if right < size and (heap[right] >> shift) < (heap[left] >> shift):
                best = right
            heap[i] = heap[best]
            i = best
            left = 2 * i + 1
        while i > 0:
            parent = (i - 1) >> 1
            if (heap[parent] >> shift) < priority:
                break
            heap[i] = heap[parent]
            i = parent
        heap[i] = last
    return top


@njit(cache=True, nogil=True)
def flood(
    fg: np.ndarray, seeds: np.ndarray, labels: np.ndarray, seed_thres: int, offsets: np.ndarray,
    counts: np.ndarray, heap: np.ndarray, index_bits: int, age_bits: int,
) -> None:
    """Flood ``labels`` (flat, zeroed, the smallest dtype that holds the seed ids) over voxels
    where ``fg`` (flat uint8) is non-zero.

    Markers are the voxels of ``seeds`` (flat seed ids 1..n) inside the mask whose seed has at
    least ``seed_thres`` voxels, counted over the whole seed (PyTC's seed-size filter before
    scikit-image's ``markers * mask``). ``fg`` holds the foreground value inside the mask and 0
    outside it and on a one-voxel border (so no bounds checks are needed); it is consumed (zeroed
    where labelled). ``offsets`` are the flat neighbour steps; ``counts`` (n + 1 slots) ends as the
    voxel count of each id; ``heap`` (uint64) has one slot per mask voxel.

    Only markers share keys, so once the last marker is popped every later key is distinct and
    the heap's order is plain (value, age) order: the rest runs on per-value FIFO queues (kept as
    linked lists in the heap's storage), which visits voxels in exactly the heap's order.
    """
    shift = np.uint64(index_bits)
    value_shift = np.uint64(index_bits + age_bits)
    index_mask = (np.uint64(1) << shift) - np.uint64(1)
    found = 0
    for i in range(seeds.size):
        seed = seeds[i]
        if seed == 0:
            continue
        counts[seed] += 1
        if fg[i] != 0:
            heap[found] = i
            found += 1
    keep = counts >= seed_thres
    counts[:] = 0
    size = 0
    markers = 0
    for k in range(found):  # pushes write heap[size], size <= k: the positions ahead stay intact
        at = np.int64(heap[k])
        seed = seeds[at]
        if not keep[seed]:
            continue
        labels[at] = seed
        counts[seed] += 1
        size = _push(heap, size, (np.uint64(255 - fg[at]) << value_shift) | np.uint64(at), shift)
        fg[at] = 0
        markers += 1
    age = np.uint64(1)
    while markers > 0:
        top = _pop(heap, size, shift)
        size -= 1
        if ((top >> shift) & ((np.uint64(1) << np.uint64(age_bits)) - np.uint64(1))) == 0:
            markers -= 1
        index = np.int64(top & index_mask)
        level = top >> value_shift
        label = labels[index]
        for k in range(offsets.size):
            j = index + offsets[k]
            if fg[j] == 0:
                continue
            age += np.uint64(1)
            value = np.uint64(255 - fg[j])
            if value < level:
                value = level
            fg[j] = 0
            labels[j] = label
            counts[label] += 1
            size = _push(heap, size, (value << value_shift) | (age << shift) | np.uint64(j), shift)
    _drain(fg, labels, offsets, counts, heap, size, index_bits, age_bits, np.int64(age))


@njit(cache=True, nogil=True)
def _drain(
    fg: np.ndarray, labels: np.ndarray, offsets: np.ndarray, counts: np.ndarray,
    heap: np.ndarray, size: int, index_bits: int, age_bits: int, max_age: np.int64,
) -> None:
    """Finish a flood whose heap (``heap[:size]``) holds no marker: pop in (value, age) order."""
    value_shift = np.uint64(index_bits + age_bits)
    age_mask = (np.uint64(1) << np.uint64(age_bits)) - np.uint64(1)
    index_mask = (np.uint64(1) << np.uint64(index_bits)) - np.uint64(1)
    link_mask = np.uint64(0xFFFFFFFF)
    head = np.full(256, -1, np.int64)
    tail = np.full(256, -1, np.int64)
    by_age = np.full(max_age + 1, -1, np.int32)
    for p in range(size):
        by_age[np.int64((heap[p] >> np.uint64(index_bits)) & age_mask)] = p
    for a in range(max_age + 1):
        p = by_age[a]
        if p < 0:
            continue
        item = heap[p]
        value = np.int64(item >> value_shift)
        heap[p] = ((item & index_mask) << np.uint64(32)) | link_mask
        if tail[value] >= 0:
            heap[tail[value]] = (heap[tail[value]] & ~link_mask) | np.uint64(p)
        else:
            head[value] = p
        tail[value] = p
    free = size
    for level in range(256):
        while head[level] >= 0:
            node = head[level]
            index = np.int64(heap[node] >> np.uint64(32))
            link = heap[node] & link_mask
            if link == link_mask:  # the queue is empty now: a push at this level starts it afresh
                head[level] = -1
                tail[level] = -1
            else:
                head[level] = np.int64(link)
            label = labels[index]
            for k in range(offsets.size):
                j = index + offsets[k]
                if fg[j] == 0:
                    continue
                value = 255 - np.int64(fg[j])
                if value < level:
                    value = np.int64(level)
                fg[j] = 0
                labels[j] = label
                counts[label] += 1
                heap[free] = (np.uint64(j) << np.uint64(32)) | link_mask
                if tail[value] >= 0:
                    heap[tail[value]] = (heap[tail[value]] & ~link_mask) | np.uint64(free)
                else:
                    head[value] = free
                tail[value] = free
                free += 1
