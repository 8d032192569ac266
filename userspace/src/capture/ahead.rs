//! Reading ahead: a thread of its own reads the next windows of a capture while the packets of
//! the current one are decoded, and hands the filled buffers over (no copy). The kernel's copy
//! of the file was a fifth of replay time on light traffic mixes; now it overlaps with the
//! decoding. Each buffer leaves room in front of its bytes, where the stream puts the start of
//! a record that the previous window cut, so that the record reads as one slice.

use std::io::Read;
use std::sync::mpsc::{self, Receiver, SyncSender};

/// Room in front of each window for the unfinished record of the window before it: a record
/// up to this long continues without being gathered into a buffer of its own.
pub(super) const HEADROOM: usize = 64 << 10;
/// Buffers in flight: the one being decoded, one being filled, one filled and waiting.
const BUFFERS: usize = 3;
const PAGE: usize = 4096;

/// One window of the file as the reader left it: `buf[start..start + len]`.
pub(super) struct Chunk {
    pub buf: Vec<u8>,
    pub start: usize,
    pub len: usize,
    /// The source ended after these bytes (also after an error).
    pub eof: bool,
    pub error: Option<std::io::Error>,
}

impl Chunk {
    /// No bytes, and the reason the source cannot give any.
    fn failed(error: std::io::Error) -> Chunk {
        Chunk { buf: Vec::new(), start: 0, len: 0, eof: true, error: Some(error) }
    }
}

/// The windows of one capture, read ahead by a thread of its own.
///
/// Always a thread, even on one core (where the hand-over costs about a tenth of the time it
/// saves on two): every buffer is allocated here in the stream's thread and the thread's own
/// bookkeeping lives until the stream ends, so the heap the state's memory bound reads
/// (`aggregate::budget`) changes only at points of the stream itself, and the same capture
/// gives the same report whatever the machine and the threads' timing. (A zstd-compressed
/// capture is the exception: its decoder's window grows in this thread over the first few
/// MiB of the capture, long before the state can near its bound.)
pub(super) struct ReadAhead {
    empty: SyncSender<Vec<u8>>,
    full: Receiver<Chunk>,
    /// The size of a buffer: room, page alignment and a window.
    size: usize,
    /// Held, never joined (a thread blocked reading a pipe must not hold the stream up): so
    /// that the thread's handle is freed when the stream ends, not when the thread does.
    _thread: Option<std::thread::JoinHandle<()>>,
}

impl ReadAhead {
    /// Start reading `src` in windows of `window` bytes. When the stream stops early (damage),
    /// dropping this ends the thread at its next step; a thread blocked reading a pipe ends
    /// when the pipe gives data or closes (or with the process).
    pub fn spawn<R: Read + Send + 'static>(src: R, window: usize) -> ReadAhead {
        let size = HEADROOM + PAGE + window;
        let (empty, take) = mpsc::sync_channel(BUFFERS);
        let (give, full) = mpsc::sync_channel(BUFFERS);
        for _ in 0..BUFFERS - 1 {
            let _ = empty.send(vec![0; size]);
        }
        let first = vec![0; size];
        let filler = Filler { src, window, offset: 0 };
        match std::thread::Builder::new().name("capture-read".into()).spawn(move || run(filler, first, take, give)) {
            Ok(t) => ReadAhead { empty, full, size, _thread: Some(t) },
            Err(e) => {
                // No thread (a process at its limit): the stream sees the error as a failed read.
                let (give, full) = mpsc::sync_channel(1);
                let _ = give.send(Chunk::failed(e));
                ReadAhead { empty, full, size, _thread: None }
            }
        }
    }

    /// The next window; only asked while the last one was not the end.
    pub fn next(&mut self) -> Chunk {
        self.full.recv().unwrap_or_else(|_| Chunk::failed(std::io::Error::other("the reading thread stopped")))
    }

    /// A buffer the stream is done with, for a later window.
    /// One that grew (it gathered a record longer than a window) is replaced by one of the
    /// usual size, so a large record does not stay in memory.
    pub fn give_back(&mut self, buf: Vec<u8>) {
        let buf = if buf.len() == self.size && buf.capacity() < 2 * self.size { buf } else { vec![0; self.size] };
        let _ = self.empty.try_send(buf);
    }
}

/// Reads windows of a source into buffers of [`ReadAhead`]'s size.
struct Filler<R> {
    src: R,
    window: usize,
    /// File offset of the next window.
    offset: u64,
}

impl<R: Read> Filler<R> {
    /// The next window into `buf` (until the window is full or the source ends), placed so
    /// that its address and its file offset agree modulo the page size (the kernel's copy ran
    /// four times slower here when they did not).
    fn fill(&mut self, mut buf: Vec<u8>) -> Chunk {
        if buf.len() < HEADROOM + PAGE + self.window {
            // [`ReadAhead`] hands out whole buffers only; never slice past one.
            buf.resize(HEADROOM + PAGE + self.window, 0);
        }
        let addr = (buf.as_ptr() as usize + HEADROOM) % PAGE;
        let start = HEADROOM + (self.offset as usize % PAGE + PAGE - addr) % PAGE;
        let (mut len, mut eof, mut error) = (0, false, None);
        super::fill(&mut self.src, &mut buf[start..start + self.window], &mut len, &mut eof, &mut error);
        self.offset += len as u64;
        Chunk { buf, start, len, eof, error }
    }
}

/// The thread: fill each buffer it is given with the next window, until the source ends or
/// the stream no longer wants them.
fn run<R: Read>(mut filler: Filler<R>, first: Vec<u8>, take: Receiver<Vec<u8>>, give: SyncSender<Chunk>) {
    let mut spare = Some(first);
    loop {
        let Some(buf) = spare.take().or_else(|| take.recv().ok()) else { return };
        let chunk = filler.fill(buf);
        let eof = chunk.eof;
        if give.send(chunk).is_err() || eof {
            return;
        }
    }
}
