"""Marker flood on uint8 maps with a bucket queue, for blockwise fragments (no tie order to replay).

Keys are ``2 * (255 - foreground) + class``: a voxel's flood value (its minimax distance to the
nearest marker) and then the class of the marker it came from (0: seed, 1: face), so on equal values
seeds flood before face markers. Within a key voxels go first in, first out.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def bucket_flood(fg: np.ndarray, markers: np.ndarray, face_class: np.ndarray, offsets: np.ndarray,
                 labels: np.ndarray, values: np.ndarray, allow: np.ndarray) -> np.ndarray:
    """Flood ``labels`` (flat, zeroed) from ``markers`` (flat ids, 0: none) over voxels where ``fg``
    (flat uint8 foreground, 0 outside the mask and on a one-voxel border) is non-zero; ``fg`` is
    consumed. ``face_class[m]`` is 1 for face markers, 0 for seeds. Writes each labelled voxel's flood
    value (``255 - foreground`` raised to the level it was reached at) into ``values`` and returns the
    voxels per id.

    A face marker's voxel is *pending* until its key ``2 * value + 1``: before that a seed entry popped at a value
    below ``allow`` (flat uint8: 1 + the lowest priority ``255 - foreground`` of the voxel's neighbours outside the
    block) takes it, unless a face marker's entry popped next to it first (which sets its ``allow`` to 0): then no
    neighbour the block cannot see, and no open one, can have reached it at a lower level, so the seed's label is the
    whole-volume flood's up to ties. Face markers still pending at their key claim their voxels then, ahead of every
    other entry of that key (where they would have stood had they entered at the start)."""
    counts = np.zeros(face_class.size, np.int64)
    after = np.full(fg.size, -1, np.int32)
    head = np.full(512, -1, np.int64)
    tail = np.full(512, -1, np.int64)
    pending_count = np.zeros(513, np.int64)
    seen = np.empty(face_class.size, np.int64)  # a face marker is one voxel: at most one per marker id
    n_seen = 0
    for i in range(fg.size):
        m = markers[i]
        if m == 0 or fg[i] == 0:
            continue
        value = 255 - np.int64(fg[i])
        labels[i] = m
        if face_class[m]:  # pending: fg[i] stays set
            pending_count[2 * value + 2] += 1
            seen[n_seen] = i
            n_seen += 1
            continue
        values[i] = value
        counts[m] += 1
        fg[i] = 0
        entry = 2 * value
        if tail[entry] >= 0:
            after[tail[entry]] = i
        else:
            head[entry] = i
        tail[entry] = i
    start = np.cumsum(pending_count)  # pending entries of key k: pending[start[k]:start[k + 1]], raster order
    pending = np.empty(n_seen, np.int64)
    filled = start.copy()
    for i in seen[:n_seen]:
        claim = 2 * (255 - np.int64(fg[i])) + 1
        pending[filled[claim]] = i
        filled[claim] += 1
    for key in range(512):
        if key & 1:  # claim this key's face markers still pending, in raster order, ahead of the queue
            first, last = np.int64(-1), np.int64(-1)
            for i in pending[start[key]:start[key + 1]]:
                if fg[i] == 0:
                    continue  # a seed took it
                fg[i] = 0
                values[i] = key >> 1
                counts[labels[i]] += 1
                if last >= 0:
                    after[last] = i
                else:
                    first = i
                last = i
            if last >= 0:
                after[last] = head[key]
                if head[key] < 0:
                    tail[key] = last
                head[key] = first
        while head[key] >= 0:
            i = head[key]
            head[key] = after[i]
            if head[key] < 0:
                tail[key] = -1
            label = labels[i]
            for step in offsets:
                j = i + step
                if fg[j] == 0:
                    continue
                if labels[j] != 0:  # a face marker's pending voxel
                    if key & 1:
                        allow[j] = 0
                    if allow[j] <= key >> 1:
                        continue
                reach = 2 * (255 - np.int64(fg[j])) + (key & 1)
                if reach < key:
                    reach = np.int64(key)
                fg[j] = 0
                labels[j] = label
                values[j] = reach >> 1
                counts[label] += 1
                if tail[reach] >= 0:
                    after[tail[reach]] = j
                else:
                    head[reach] = j
                tail[reach] = j
    return counts


_GOLDEN = np.uint64(11400714819323198485)  # 2**64 / golden ratio: Fibonacci hashing


@njit(cache=True, nogil=True, inline="always")
def _slot(key: int | np.int64, bits: int) -> np.int64:
    return np.int64((np.uint64(key) * _GOLDEN) >> np.uint64(64 - bits))


@njit(cache=True, nogil=True)
def _hash_table(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Open-addressing table (a power of two >= 2 * len slots) of positions into ``keys`` (-1: empty)."""
    bits = 1
    while (1 << bits) < 2 * keys.size + 2:
        bits += 1
    table = np.full(1 << bits, -1, np.int64)
    mask = (1 << bits) - 1
    for i in range(keys.size):
        slot = _slot(keys[i], bits)
        while table[slot] >= 0:
            slot = (slot + 1) & mask
        table[slot] = i
    return table, bits


@njit(cache=True, nogil=True, inline="always")
def _find(table: np.ndarray, bits: int, keys: np.ndarray, key: int | np.int64) -> np.int64:
    """Position of ``key`` in ``keys`` through ``table``, or -1."""
    mask = table.size - 1
    slot = _slot(key, bits)
    while table[slot] >= 0:
        if keys[table[slot]] == key:
            return table[slot]
        slot = (slot + 1) & mask
    return np.int64(-1)


@njit(cache=True, nogil=True)
def sparse_flood(index: np.ndarray, level: np.ndarray, value: np.ndarray, label: np.ndarray,
                 shape: np.ndarray) -> None:
    """Flood a sparse set of voxels (``index``: flat indices into a volume of ``shape``, in the order
    sources enter): entries with ``label >= 0`` are settled sources, entering at key ``value``; free
    entries (``label == -1``) take, in place, the label of the first source or flooded neighbour
    (6-connected) to reach them, at key ``max(255 - level, the neighbour's key)``; first in, first
    out per key."""
    n = index.size
    table, bits = _hash_table(index)
    after = np.full(n, -1, np.int64)
    head = np.full(256, -1, np.int64)
    tail = np.full(256, -1, np.int64)
    for i in range(n):
        if label[i] < 0:
            continue
        entry = np.int64(value[i])
        if tail[entry] >= 0:
            after[tail[entry]] = i
        else:
            head[entry] = i
        tail[entry] = i
    ny, nx = shape[1], shape[2]
    plane = ny * nx
    for key in range(256):
        while head[key] >= 0:
            i = head[key]
            head[key] = after[i]
            if head[key] < 0:
                tail[key] = -1
            at = index[i]
            z, y, x = at // plane, (at // nx) % ny, at % nx
            for k in range(6):
                if k == 0:
                    there = at - plane if z > 0 else -1
                elif k == 1:
                    there = at - nx if y > 0 else -1
                elif k == 2:
                    there = at - 1 if x > 0 else -1
                elif k == 3:
                    there = at + 1 if x + 1 < nx else -1
                elif k == 4:
                    there = at + nx if y + 1 < ny else -1
                else:
                    there = at + plane if z + 1 < shape[0] else -1
                if there < 0:
                    continue
                j = _find(table, bits, index, there)
                if j < 0 or label[j] >= 0:
                    continue
                label[j] = label[i]
                reach = max(255 - np.int64(level[j]), np.int64(key))
                if tail[reach] >= 0:
                    after[tail[reach]] = j
                else:
                    head[reach] = j
                tail[reach] = j
