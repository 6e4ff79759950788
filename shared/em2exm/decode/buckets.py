"""Marker flood on uint8 maps with a bucket queue, for blockwise fragments (no tie order to replay).

Keys are ``2 * (255 - foreground) + class``: a voxel's flood value (its minimax distance to the
nearest marker) and then the class of the marker it came from (0: seed, 1: face), so on equal values
seeds flood before face markers. Within a key voxels go first in, first out.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def bucket_flood(fg: np.ndarray, labels: np.ndarray, face_class: np.ndarray, offsets: np.ndarray,
                 values: np.ndarray, allow: np.ndarray) -> np.ndarray:
    """Flood ``labels`` (flat; on entry the markers' ids, 0: none, all inside the mask) over voxels where ``fg`` (flat
    uint8 foreground, 0 outside the mask and on a one-voxel border) is non-zero; ``fg`` is consumed.
    ``face_class[m]`` is 1 for face markers, 0 for seeds. Writes each labelled voxel's flood value
    (``255 - foreground`` raised to the level it was reached at) into ``values`` and returns the voxels per id.

    A face marker's voxel is *pending* until its key ``2 * value + 1``: before that a seed entry popped at a value
    below ``allow`` (flat uint8: 1 + the lowest priority ``255 - foreground`` of the voxel's neighbours outside the
    block) takes it, unless a face marker's entry popped next to it first (which sets its ``allow`` to 0): then no
    neighbour the block cannot see, and no open one, can have reached it at a lower level, so the seed's label is the
    whole-volume flood's up to ties. Face markers still pending at their key claim their voxels then, ahead of every
    other entry of that key (where they would have stood had they entered at the start).

    Each key's queue is a linked list of entries, one per foreground voxel at most (``voxel_of``, ``after``: 8 bytes
    per foreground voxel, none for the rest of the block; ``fg`` has fewer than 2**31 voxels)."""
    counts = np.zeros(face_class.size, np.int64)
    n_fg = 0
    for i in range(fg.size):
        n_fg += fg[i] != 0
    voxel_of = np.empty(n_fg, np.int32)
    after = np.empty(n_fg, np.int32)
    used = 0
    head = np.full(512, -1, np.int64)
    tail = np.full(512, -1, np.int64)
    pending_count = np.zeros(513, np.int64)
    seen = np.empty(face_class.size, np.int64)  # a face marker is one voxel: at most one per marker id
    n_seen = 0
    for i in range(fg.size):
        if fg[i] == 0:
            continue
        m = labels[i]
        if m == 0:
            continue
        value = 255 - np.int64(fg[i])
        if face_class[m]:  # pending: fg[i] stays set
            pending_count[2 * value + 2] += 1
            seen[n_seen] = i
            n_seen += 1
            continue
        values[i] = value
        counts[m] += 1
        fg[i] = 0
        entry = 2 * value
        # appended inline here and below: an njit helper for the append (inlined or not) made blocks 15-20% slower
        voxel_of[used], after[used] = i, -1
        if tail[entry] >= 0:
            after[tail[entry]] = used
        else:
            head[entry] = used
        tail[entry] = used
        used += 1
    start = np.cumsum(pending_count)  # pending entries of key k: pending[start[k]:start[k + 1]], raster order
    pending = np.empty(n_seen, np.int64)
    filled = start.copy()
    for i in seen[:n_seen]:
        claim = 2 * (255 - np.int64(fg[i])) + 1
        pending[filled[claim]] = i
        filled[claim] += 1
    for key in range(512):
        if key & 1:  # claim this key's face markers still pending, in raster order, ahead of the queue
            first, last = -1, -1
            for i in pending[start[key]:start[key + 1]]:
                if fg[i] == 0:
                    continue  # a seed took it
                fg[i] = 0
                values[i] = key >> 1
                counts[labels[i]] += 1
                voxel_of[used], after[used] = i, -1
                if last >= 0:
                    after[last] = used
                else:
                    first = used
                last = used
                used += 1
            if last >= 0:
                after[last] = head[key]
                if head[key] < 0:
                    tail[key] = last
                head[key] = first
        while head[key] >= 0:
            entry = head[key]
            head[key] = after[entry]
            if head[key] < 0:
                tail[key] = -1
            i = voxel_of[entry]
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
                voxel_of[used], after[used] = j, -1
                if tail[reach] >= 0:
                    after[tail[reach]] = used
                else:
                    head[reach] = used
                tail[reach] = used
                used += 1
    return counts


@njit(cache=True, nogil=True)
def _box_lookup(index: np.ndarray, shape: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dense lookup of ``index`` (distinct flat indices into a volume of ``shape``) over their bounding box with a
    one-voxel frame: the position of each box voxel's entry (-1: none; the frame is all -1, so no neighbour step
    needs a bounds check), each entry's flat index in the box, and the box's six neighbour steps (-z, -y, -x, +x,
    +y, +z)."""
    ny, nx = shape[1], shape[2]
    plane = ny * nx
    zyx = np.empty((index.size, 3), np.int64)
    low = np.array([shape[0], ny, nx], np.int64)
    high = np.zeros(3, np.int64)
    for i in range(index.size):
        z = index[i] // plane
        y = (index[i] - z * plane) // nx
        zyx[i, 0], zyx[i, 1], zyx[i, 2] = z, y, index[i] - z * plane - y * nx
        for a in range(3):
            low[a] = min(low[a], zyx[i, a])
            high[a] = max(high[a], zyx[i, a])
    extent = np.maximum(high - low, 0) + 3
    by, bx = extent[1], extent[2]
    where = np.full(extent[0] * by * bx, -1, np.int32)
    local = np.empty(index.size, np.int64)
    for i in range(index.size):
        local[i] = ((zyx[i, 0] - low[0] + 1) * by + zyx[i, 1] - low[1] + 1) * bx + zyx[i, 2] - low[2] + 1
        where[local[i]] = i
    return where, local, np.array([-by * bx, -bx, -1, 1, bx, by * bx], np.int64)


@njit(cache=True, nogil=True)
def _sources_in_order(label: np.ndarray, value: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Positions of the sources (``label >= 0``) by (value, depth), in position order on ties: counted by value, the
    depth-0 sources of a value (most: settled voxels) first, then its deeper ones sorted by depth."""
    start = np.zeros(257, np.int64)
    deeper = np.zeros(256, np.int64)
    for i in range(label.size):
        if label[i] >= 0:
            start[value[i] + 1] += 1
            deeper[value[i]] += depth[i] > 0
    start = np.cumsum(start)
    order = np.empty(start[256], np.int64)
    flat = start[:256].copy()
    deep = start[1:] - deeper
    for i in range(label.size):
        if label[i] >= 0:
            v = value[i]
            if depth[i] > 0:
                order[deep[v]] = i
                deep[v] += 1
            else:
                order[flat[v]] = i
                flat[v] += 1
    for v in range(256):
        if deeper[v] > 1:
            part = order[start[v + 1] - deeper[v]:start[v + 1]]
            order[start[v + 1] - deeper[v]:start[v + 1]] = part[np.argsort(depth[part], kind="mergesort")]
    return order


@njit(cache=True, nogil=True)
def relax_flood(index: np.ndarray, level: np.ndarray, value: np.ndarray, depth: np.ndarray, label: np.ndarray,
                provisional: np.ndarray, shape: np.ndarray) -> None:
    """Flood a sparse set of voxels (``index``: distinct flat indices into a volume of ``shape``): entries with
    ``label >= 0`` are sources at (``value``, ``depth``); each free entry (``label == -1``) takes, in place, the
    label of its first neighbour (6-connected) to be popped, with value ``max(255 - level, the neighbour's value)``
    and depth the neighbour's + 1 on an equal value, else 0. Entries pop by (value, depth): a neighbour of smaller
    value, then of smaller depth, labels a voxel first, so labels follow chains of strictly smaller keys. A
    ``provisional`` source is free as well: a neighbour that reaches it at a smaller (value, depth) takes it.

    Per value two queues that each hold entries in order of depth: the sources (sorted) and a first-in, first-out
    queue of flooded entries (those reached from a smaller value enter at depth 0 before the value's turn, the rest
    at the popped depth + 1); each pop takes the smaller head, a source on equal depths. Neighbours are found in a
    dense lookup over the entries' bounding box (4 bytes per voxel of it: a block's box and its margins)."""
    where, local, box_steps = _box_lookup(index, shape)
    order = _sources_in_order(label, value, depth)
    taken = np.zeros(index.size, np.bool_)  # provisional sources reached before their turn
    after = np.full(index.size, -1, np.int64)
    head = np.full(256, -1, np.int64)
    tail = np.full(256, -1, np.int64)
    next_source = 0
    for reached in range(256):
        while True:
            while next_source < order.size and taken[order[next_source]]:
                next_source += 1  # reached before its turn: it pops from the queue instead
            from_source = next_source < order.size and value[order[next_source]] == reached and (
                head[reached] < 0 or depth[order[next_source]] <= depth[head[reached]])
            if from_source:
                top = order[next_source]
                next_source += 1
            elif head[reached] >= 0:
                top = head[reached]
                head[reached] = after[top]
                if head[reached] < 0:
                    tail[reached] = -1
            else:
                break
            steps = depth[top]
            for step in box_steps:
                j = np.int64(where[local[top] + step])
                if j < 0:
                    continue
                own = 255 - np.int64(level[j])
                reach = max(own, np.int64(reached))
                deeper = steps + 1 if own <= reached else 0
                if label[j] >= 0:
                    if not provisional[j] or taken[j] or reach > value[j] or (
                            reach == value[j] and deeper >= depth[j]):
                        continue
                    taken[j] = True
                label[j] = label[top]
                value[j] = reach
                depth[j] = deeper
                if tail[reach] >= 0:
                    after[tail[reach]] = j
                else:
                    head[reach] = j
                tail[reach] = j
