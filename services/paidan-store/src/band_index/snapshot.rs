//! The band index snapshot file: what a clean close writes so the next open need not rebuild the
//! index from `dedup_entries`. Apart from the index itself because it is a file format (magic,
//! version, CRC), read only at open and refused whole on any doubt: the index is derived data,
//! so a refused snapshot costs a rebuild, never a wrong answer.

use std::io::{self, Read, Write};

use super::*;

/// Snapshot file format: magic, then little-endian fields, then a CRC-32 of everything before it.
/// Version 2: posting keys no longer depend on the band's position. Version 3: slots carry their
/// cell count and may be evicted (cells not swept yet), and the sweep's next shard is kept.
/// Version 4: the same fields, the shards' cells in Robin Hood order. Version 5: the cells packed
/// in 7 bytes (see `Cells`). A version-4 snapshot is read and its cells packed where they are; a
/// version-3 one (linear probing, with tombstones) is read and its shards' cells put again, in
/// tables of the size a growth would give; an older one is refused, so the index is rebuilt from
/// the entries.
pub(super) const SNAPSHOT_MAGIC: &[u8; 8] = b"PDBIX\x00\x00\x05";
const SNAPSHOT_MAGIC_V4: &[u8; 8] = b"PDBIX\x00\x00\x04";
const SNAPSHOT_MAGIC_V3: &[u8; 8] = b"PDBIX\x00\x00\x03";

/// Most slots, and most cells of one shard, reserved ahead of reading them (16 Mi: 128 MiB of
/// cells). A shard of a real index is far below it (at 1M stored cases about 0.6 Mi cells).
const PRESIZE_CAP: usize = 1 << 24;

/// Writes through to `inner` and keeps a CRC-32 of what passed.
struct Crc<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Crc<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

fn put_u64(w: &mut impl Write, v: u64) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

fn get_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn get_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("band index snapshot: {what}"),
    )
}

/// A length read from a snapshot, refused when it is beyond what the file could hold (so a
/// damaged length cannot make the reader allocate without bound).
fn get_len(r: &mut impl Read, max: u64, what: &str) -> io::Result<usize> {
    let n = get_u64(r)?;
    if n > max {
        return Err(bad(&format!("{what} of {n} is out of range")));
    }
    Ok(n as usize)
}

impl BandIndex {
    /// Write the whole index to `w`, tagged with `token` (which [`BandIndex::read_snapshot`] must
    /// be given back). The lookup maps (`by_case`, `by_hour`) are derived from the slots on read.
    pub(crate) fn write_snapshot(&self, w: impl Write, token: u64) -> io::Result<()> {
        self.write_snapshot_as(w, token, 5)
    }

    /// [`BandIndex::write_snapshot`] in format `version`: 5, or 4 (8-byte cells; what the build
    /// before wrote, for the tests of reading it).
    pub(super) fn write_snapshot_as(
        &self,
        w: impl Write,
        token: u64,
        version: u8,
    ) -> io::Result<()> {
        let mut w = Crc {
            inner: io::BufWriter::with_capacity(1 << 20, w),
            crc: crc32fast::Hasher::new(),
        };
        w.write_all(if version == 5 {
            SNAPSHOT_MAGIC
        } else {
            SNAPSHOT_MAGIC_V4
        })?;
        put_u64(&mut w, token)?;
        for v in [self.keep_ms, self.newest, self.horizon] {
            put_u64(&mut w, v as u64)?;
        }
        put_u64(&mut w, self.slots.len() as u64)?;
        for s in &self.slots {
            match s.state() {
                LIVE => {
                    w.write_all(&[1])?;
                    put_u64(&mut w, s.case)?;
                    put_u64(&mut w, s.received_at as u64)?;
                    put_u64(&mut w, s.active_at() as u64)?;
                    w.write_all(&s.cells().to_le_bytes())?;
                }
                EVICTED => {
                    w.write_all(&[2])?;
                    w.write_all(&s.cells().to_le_bytes())?;
                }
                _ => w.write_all(&[0])?,
            }
        }
        put_u64(&mut w, self.free.len() as u64)?;
        for &f in &self.free {
            w.write_all(&f.to_le_bytes())?;
        }
        put_u64(&mut w, self.sweep_next as u64)?;
        put_u64(&mut w, self.postings.shards.len() as u64)?;
        for sh in &self.postings.shards {
            put_u64(&mut w, sh.live as u64)?;
            put_u64(&mut w, sh.used as u64)?;
            put_u64(&mut w, sh.cells.len() as u64)?;
            if version == 5 {
                w.write_all(sh.cells.packed())?;
            } else {
                let cells: Vec<u8> = sh.cells.iter().flat_map(u64::to_le_bytes).collect();
                w.write_all(&cells)?;
            }
        }
        let crc = w.crc.clone().finalize();
        w.inner.write_all(&crc.to_le_bytes())?;
        w.inner.flush()
    }

    /// Read an index written by [`BandIndex::write_snapshot`]. `Ok(None)` when the file belongs to
    /// another token or another `keep_ms` (not this store's last clean close); an error when it
    /// is damaged (bad magic, truncated, checksum mismatch, inconsistent fields).
    pub(crate) fn read_snapshot(
        r: impl Read,
        token: u64,
        keep_ms: Millis,
    ) -> io::Result<Option<BandIndex>> {
        let mut r = Crc {
            inner: io::BufReader::with_capacity(1 << 20, r),
            crc: crc32fast::Hasher::new(),
        };
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        let version = match &magic {
            m if m == SNAPSHOT_MAGIC => 5,
            m if m == SNAPSHOT_MAGIC_V4 => 4,
            m if m == SNAPSHOT_MAGIC_V3 => 3,
            _ => return Err(bad("not a band index snapshot (or another format version)")),
        };
        if get_u64(&mut r)? != token || get_u64(&mut r)? as Millis != keep_ms.max(0) {
            return Ok(None);
        }
        let newest = get_u64(&mut r)? as Millis;
        let horizon = get_u64(&mut r)? as Millis;
        const MAX: u64 = u32::MAX as u64;
        let n_slots = get_len(&mut r, MAX, "slot count")?;
        let mut ix = BandIndex::new(keep_ms, horizon);
        ix.newest = newest;
        // Sized once: grown by doubling, the vectors end with up to twice the memory they use
        // (the table at 1M cases: 537 MB for 300 MB of cells). Capped, so a damaged count fails
        // on a short file, not on allocation; a larger one grows past the cap as it is read.
        ix.slots.reserve_exact(n_slots.min(PRESIZE_CAP));
        for i in 0..n_slots {
            let mut tag = [0u8; 1];
            r.read_exact(&mut tag)?;
            let mut slot = Slot::default();
            match tag[0] {
                0 => {}
                1 => {
                    slot.case = get_u64(&mut r)?;
                    slot.received_at = get_u64(&mut r)? as Millis;
                    slot.active_s = end_secs(get_u64(&mut r)? as Millis);
                    let cells = get_u32(&mut r)?;
                    if cells > MAX_CELLS {
                        return Err(bad(&format!("slot {i} counts {cells} cells")));
                    }
                    slot.set(LIVE, cells);
                }
                2 => {
                    let cells = get_u32(&mut r)?;
                    if cells == 0 || cells > MAX_CELLS {
                        return Err(bad(&format!("evicted slot {i} with {cells} cells")));
                    }
                    slot.set(EVICTED, cells);
                    ix.set_stale(i as u32, true);
                    ix.stale_cells += cells as usize;
                }
                t => return Err(bad(&format!("slot tag {t}"))),
            }
            ix.slots.push(slot);
            if slot.is_live() {
                if ix.slot_of(slot.case).is_some() {
                    return Err(bad(&format!("case {} is in two slots", slot.case)));
                }
                ix.map(i as u32);
            }
        }
        let n_free = get_len(&mut r, n_slots as u64, "free list length")?;
        for _ in 0..n_free {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)?;
            let f = u32::from_le_bytes(b);
            if ix.slots.get(f as usize).is_none_or(|s| s.state() != FREE) {
                return Err(bad(&format!("free slot {f} is not an empty slot")));
            }
            ix.free.push(f);
        }
        ix.sweep_next = get_len(&mut r, MAX, "sweep position")?;
        let n_shards = get_len(&mut r, MAX, "shard count")?;
        if ix.sweep_next >= n_shards {
            return Err(bad(&format!(
                "sweep position {} of {n_shards}",
                ix.sweep_next
            )));
        }
        if n_shards != ix.postings.shards.len() {
            return Err(bad(&format!(
                "{n_shards} shards, this build has {}",
                ix.postings.shards.len()
            )));
        }
        let mut counted = vec![0u32; ix.slots.len()];
        for sh in &mut ix.postings.shards {
            sh.live = get_len(&mut r, 1 << 40, "shard live count")?;
            sh.used = get_len(&mut r, 1 << 40, "shard used count")?;
            let n = get_len(&mut r, 1 << 40, "shard size")?;
            if sh.live > sh.used || sh.used > n || (n > 0 && sh.used == n) {
                return Err(bad("shard counts do not fit its size"));
            }
            // Read in bounded pieces: a damaged size fails on a short file, not on allocation.
            let width = if version == 5 { CELL_BYTES } else { 8 };
            let mut bytes: Vec<u8> = Vec::new();
            if n > 0 {
                bytes.reserve_exact(n.min(PRESIZE_CAP) * width + 1);
            }
            let mut buf = vec![0u8; 8 * 8192];
            while bytes.len() < n * width {
                let take = (n - bytes.len() / width).min(8192) * width;
                r.read_exact(&mut buf[..take])?;
                bytes.extend_from_slice(&buf[..take]);
            }
            let top = sh.cells.top;
            if version == 5 {
                sh.cells = Cells::from_packed(top, bytes);
            } else {
                // 8-byte cells (`hash32 << 32 | slot`): the same positions packed, or (version
                // 3, linear probing) put again.
                let old: Vec<u64> = bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect();
                drop(bytes);
                for &c in old.iter().filter(|&&c| c != EMPTY && c != TOMB) {
                    if (c >> 32) as u32 & !(CELL_HASH_MASK as u32) != top
                        || c & 0xFFFF_FFFF >= SLOT_MASK
                    {
                        return Err(bad(&format!("posting {c:#x} does not fit its shard")));
                    }
                }
                if version == 3 {
                    sh.put_all(old, ((sh.live + 1) * 100 / GROW_TO).max(16));
                } else {
                    sh.cells = Cells::filled(top, n);
                    for (i, c) in old.into_iter().enumerate() {
                        sh.cells.set(i, c);
                    }
                }
            }
            let mut live = 0;
            for c in sh.cells.iter().filter(|&c| c != EMPTY) {
                live += 1;
                match counted.get_mut(c as u32 as usize) {
                    Some(n) => *n += 1,
                    None => return Err(bad(&format!("posting {c:#x} names no slot"))),
                }
            }
            if live != sh.live {
                return Err(bad("shard live count does not match its cells"));
            }
        }
        ix.slots.shrink_to_fit();
        // Every slot has exactly the cells it counts (a free slot none), so a freed slot is
        // never named by a stale cell.
        for (i, (s, &n)) in ix.slots.iter().zip(&counted).enumerate() {
            let want = s.cells();
            if want != n {
                return Err(bad(&format!(
                    "slot {i} counts {want} cells, the table has {n}"
                )));
            }
        }
        let crc = r.crc.clone().finalize();
        let mut b = [0u8; 4];
        r.inner.read_exact(&mut b)?;
        if u32::from_le_bytes(b) != crc {
            return Err(bad("checksum mismatch"));
        }
        Ok(Some(ix))
    }
}
