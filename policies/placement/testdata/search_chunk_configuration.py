"""A transcription of ColossalAI's search_chunk_configuration for one DP-degree group, run
with Debian's numpy as chunk_numpy_oracle_test's oracle.

Written for twinsim from a reading of hpcaitech/ColossalAI@4f9953be,
colossalai/zero/gemini/chunk/search_utils.py:14-60 and :108-191 (the library itself needs
torch.distributed and cannot be imported here). What the test relies on is numpy's own
np.mean / np.std and Python's own round(), range() and math.ceil.

Input, one case per line: min_chunk_size_m search_range_m search_interval dp_degree filter
size...  (the two _m values as Python float literals, filter 0 or 1).
Output, one line per case: the float.hex() of mean + 3 * std, then the chunk size, the waste,
the first candidate and the number of dropped sizes; or "error" where Python raises.
"""
import math
import sys

import numpy as np


def search(sizes, min_chunk_size_m, search_range_m, search_interval, dp_degree, filt):
    search_range = round(search_range_m * 1024**2)
    min_chunk_size = round(min_chunk_size_m * 1024**2)
    assert search_range >= 0
    arr = np.array(sizes)
    limit = np.mean(arr) + 3 * np.std(arr)
    if sum(sizes) < min_chunk_size:  # kept gathered: never searched
        return limit, sum(sizes), 0, None, 0
    kept = [s for s in sizes if s <= limit] if filt else list(sizes)
    max_size = max(min_chunk_size, max(kept))  # max() of [] raises, as upstream
    start = int(math.ceil(max_size / search_interval) * search_interval)
    best, best_waste = start, float("+inf")
    for chunk_size in range(start, start + search_range + 1, search_interval):
        acc, left = 0, 0
        for s in kept:
            if s > left:
                acc += left
                left = chunk_size
            left -= s
        if left + acc < best_waste:
            best, best_waste = chunk_size, left + acc
    best += -best % dp_degree
    return limit, best, best_waste, start, len(sizes) - len(kept)


for line in sys.stdin:
    fields = line.split()
    if not fields:
        continue
    min_m, range_m = float(fields[0]), float(fields[1])
    interval, dp, filt = int(fields[2]), int(fields[3]), fields[4] == "1"
    sizes = [int(f) for f in fields[5:]]
    try:
        limit, chunk, waste, start, dropped = search(sizes, min_m, range_m, interval, dp, filt)
    except ValueError:
        print("error")
        continue
    print(float(limit).hex(), chunk, waste, -1 if start is None else start, dropped)
