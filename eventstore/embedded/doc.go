// Package embedded is the default event store of Encours: one directory of segmented,
// append-only files, CRC-framed and hash-chained, written by a single group-committing writer
// (design §Layout, "eventstore/embedded"; style §8).
//
// On disk, a store is a directory of segments named by the position of their first event
// (NNNNNNNNNNNNNNNNNNNN.seg, 20 digits), plus a LOCK file and, once closed, a recovery
// checkpoint (recovery.checkpoint, see checkpoint.go). Each segment is preallocated
// with zeros and holds a sequence of records:
//
//	magic u32 | payload length u32 | CRC-32C (Castagnoli) of payload u32 | payload
//	payload = domain canonical bytes ‖ SHA-256 chain hash (32 bytes)
//
// all big-endian. The magic says whether the record is the last of its append (the append's
// commit point) or whether more records of the same append follow, so recovery can drop a
// torn multi-event append as a whole. An append never spans segments.
//
// Durability: one writer at a time commits the appends waiting for it as a group, with one
// write and one fdatasync: the writer goroutine, or a lone caller that finds it idle and
// nothing queued, in the caller's own goroutine (a hand-off costs a single writer a fifth
// of its rate). A large group with calls queued behind it is handed to a syncer goroutine,
// which syncs, publishes and answers it while the writer writes the next one (pipelined
// commit, append.go). An append is acknowledged only after the fdatasync of the write that
// holds it, and readers see only acknowledged events, in position order. A failed write or fdatasync is
// never retried: the store becomes failed (eventstore.ErrFailed) until it is reopened, which
// re-reads the disk. Segments are fallocated and the writer zeroes ahead of its small writes
// (the measurements behind this are in store.go).
//
// Once a group is durable, the store drops the segment's pages more than 16 MiB behind the
// end of the log from the page cache (posix_fadvise DONTNEED), so that new writes reuse pages
// the kernel has just freed rather than take new ones (cache.go; Options.KeepWrittenInCache
// keeps them).
//
// Recovery (Open) and Verify check every record's CRC, canonical encoding, hash and link to
// its predecessor, contiguous positions and stream versions. Open starts from the recovery
// checkpoint that Close wrote when it matches the files (its head record, read back, has its
// hash), and then checks only the records after it; Verify always reads the whole log. A
// damaged record at the very end of the log, with no valid record after it, is a torn tail (a crash during a write): Open
// zeroes it and reports it in Store.Recovered. Anything else is eventstore.ErrCorrupt.
//
// It imports domain and eventstore only. Its conformance suite is eventstore/storetest, run by
// store_test.go; the crash test (crash_test.go) re-executes the test binary and SIGKILLs it.
package embedded
