#!/usr/bin/env python3
"""Where keepwatch's disk writes go: reads an strace log of its writes
(`strace -f -tt -y -xx -s 24 -e trace=pwrite64,write,fsync,fdatasync`) and
its database, and prints per hour what went to each file, the WAL frames by
table or index (pages named from SQLite's dbstat at the end), the frames
per transaction, checkpoints, and an estimate of the 4 KiB page-cache pages
dirtied (what /proc/PID/io write_bytes counts: a page already dirty is not
counted again; one is written back ~30 s after it was dirtied, or at fsync).

    scripts/write-pages.py TRACE DATABASE SECONDS [each]

"each" lists every transaction too (KEEPWATCH_WRITE_TRACE=each).
scripts/footprint.sh runs it when KEEPWATCH_WRITE_TRACE=1.
"""

import collections
import re
import sqlite3
import sys

LINE = re.compile(
    r'^\d+\s+(\d+):(\d+):([\d.]+) (pwrite64|write|fsync|fdatasync)\((\d+)<([^>]*)>'
    r'(?:, "((?:[^"\\]|\\.)*)"(?:\.\.\.)?, (\d+)(?:, (\d+))?)?\) = (-?\d+)'
)
PAGE = 4096
DIRTY_EXPIRE = 30.0


def header_bytes(escaped):
    """The first bytes of a written buffer, from strace's \\xNN escapes."""
    return bytes(int(h, 16) for h in re.findall(r'\\x([0-9a-f]{2})', escaped))


def page_names(database):
    conn = sqlite3.connect(f'file:{database}?mode=ro', uri=True)
    names = {pgno: name for name, pgno in conn.execute('SELECT name, pageno FROM dbstat')}
    size = conn.execute('PRAGMA page_size').fetchone()[0]
    vacuum = conn.execute('PRAGMA auto_vacuum').fetchone()[0]
    conn.close()
    return names, size, vacuum


def main():
    trace, database, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    verbose = len(sys.argv) > 4 and sys.argv[4] == 'each'
    if verbose:
        print('each transaction: its commit time, frames and pages by table')
    names, page_size, vacuum = page_names(database)
    per_ptrmap = page_size // 5 + 1

    def name_of(pgno):
        if pgno in names:
            return names[pgno]
        if vacuum and pgno >= 2 and (pgno - 2) % per_ptrmap == 0:
            return '(pointer map)'
        return '(free now / other)'

    per_hour = 3600.0 / seconds
    bytes_by_file = collections.Counter()
    frames_by_name = collections.Counter()
    tx_frames, frames = [], 0
    tx_pages = collections.Counter()
    checkpoints, checkpoint_pages, pages_now = 0, 0, 0
    last_db_write = None
    dirty = {}  # (file, 4 KiB page) -> when it was dirtied
    dirtied = collections.Counter()
    for line in open(trace, encoding='utf-8', errors='replace'):
        m = LINE.match(line)
        if not m:
            continue
        h, mi, s, call, _fd, path, data, length, offset, result = m.groups()
        t = int(h) * 3600 + int(mi) * 60 + float(s)
        path = header_bytes(path).decode('utf-8', 'replace') if path.startswith('\\x') else path
        kind = path.rsplit('/', 1)[-1]
        if call in ('fsync', 'fdatasync'):
            for key in [k for k in dirty if k[0] == path]:
                del dirty[key]
            continue
        written = int(result)
        if written <= 0:
            continue
        bytes_by_file[kind] += written
        if offset is not None:
            first, last = int(offset) // PAGE, (int(offset) + written - 1) // PAGE
            for p in range(first, last + 1):
                since = dirty.get((path, p))
                if since is None or t - since > DIRTY_EXPIRE:
                    dirty[(path, p)] = t
                    dirtied[kind] += 1
        if kind.endswith('-wal') and int(length) == 24 and data is not None:
            head = header_bytes(data)
            pgno = int.from_bytes(head[0:4], 'big')
            commit = int.from_bytes(head[4:8], 'big')
            frames += 1
            frames_by_name[name_of(pgno)] += 1
            tx_pages[name_of(pgno)] += 1
            if commit:
                tx_frames.append(frames)
                if verbose:
                    print(f'  {h}:{mi}:{s} transaction of {frames} frames: {dict(tx_pages)}')
                frames = 0
                tx_pages.clear()
        elif kind.endswith('.db') and int(length) == page_size:
            if last_db_write is None or t - last_db_write > 1.0:
                checkpoints += 1
            last_db_write = t
            checkpoint_pages += 1
            pages_now += 1

    print(f'bytes written per hour, by file (pwrite/write calls), over {seconds:.0f} s:')
    for kind, n in bytes_by_file.most_common():
        print(f'  {kind}: {n * per_hour / 1e6:.3f} MB/h; 4 KiB pages dirtied (estimate): '
              f'{dirtied[kind] * per_hour:.0f}/h = {dirtied[kind] * PAGE * per_hour / 1e6:.3f} MB/h')
    total = sum(dirtied.values())
    print(f'  estimated write_bytes: {total * PAGE * per_hour / 1e6:.2f} MB/h, without the '
          'WAL index (-shm), which SQLite changes through memory at each transaction')
    n = len(tx_frames)
    print(f'transactions: {n * per_hour:.0f}/h, WAL frames each: '
          f'{collections.Counter(tx_frames).most_common()} (frames: count)')
    print('WAL frames per hour, by table or index:')
    for name, count in frames_by_name.most_common():
        print(f'  {name}: {count * per_hour:.0f}')
    print(f'checkpoints: {checkpoints} ({checkpoint_pages} pages copied into the database)')


if __name__ == '__main__':
    main()
