//! The stream wrapper every accepted connection is served through
//! ([`Guarded`]): it holds the connection's permit, enforces the opening
//! deadline (parsing the first HTTP/1 head or HTTP/2 preface and frame,
//! `Sniff`) and, on the gRPC port, the idle timeout (parsing HTTP/2
//! frames to tell traffic from pings, `Traffic`). The policy is described
//! in the [`crate::net`] module doc.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use super::{MAX_HEAD_BYTES, Opening};

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An HTTP/2 frame header: length (3), type, flags, stream id (4).
const H2_FRAME_HEADER: usize = 9;
/// HTTP/2's default SETTINGS_MAX_FRAME_SIZE: a first frame claiming more is
/// h2's to refuse; the opening is over once this much of it has arrived.
const H2_DEFAULT_MAX_FRAME: usize = 16_384;

/// A connection's stream with its permit (released when the connection
/// closes) and its opening deadline: until the opening is over (see
/// [`Opening`]), reads fail with `TimedOut` once the deadline has passed,
/// and (if asked) an HTTP/1 head longer than [`MAX_HEAD_BYTES`] fails them
/// at once.
/// After the opening it is the inner stream, unchanged, unless it has an
/// idle timeout ([`Self::with_idle_timeout`]).
#[derive(Debug)]
pub struct Guarded<S> {
    inner: S,
    /// `None` once the opening is over.
    opening: Option<Box<Watch>>,
    /// `None` without an idle timeout.
    idle: Option<Box<Idle>>,
    _permit: OwnedSemaphorePermit,
}

/// The idle timeout of one connection.
#[derive(Debug)]
struct Idle {
    timeout: Duration,
    /// When traffic was last seen either way.
    last: Instant,
    /// Fires at `last + timeout` as it was when last armed; re-armed then
    /// if traffic came since, so traffic itself never touches the timer.
    timer: Pin<Box<Sleep>>,
    /// Where the parse of what the client sends is.
    read: Traffic,
    /// What the server sends: `None` until its first write, which follows
    /// the protocol the client's first bytes chose.
    write: Option<Traffic>,
}

/// HTTP/2's PING frame type: keepalive, not use.
const H2_PING: u8 = 0x6;

/// Where one direction's parse is, for telling traffic from pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Traffic {
    /// The client's first bytes, matching the HTTP/2 preface so far.
    Preface(usize),
    /// HTTP/2: `seen` bytes of a frame header, with its length and type
    /// read so far.
    Header {
        seen: usize,
        length: usize,
        kind: u8,
    },
    /// HTTP/2: the payload bytes left of a frame, a PING or not.
    Payload { left: usize, ping: bool },
    /// HTTP/1 (or a stream whose opening this wrapper did not see): every
    /// byte counts.
    Bytes,
}

impl Traffic {
    const FRAME: Self = Self::Header {
        seen: 0,
        length: 0,
        kind: 0,
    };

    /// Parses `bytes`; whether any of them was traffic (not part of a PING).
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        let mut traffic = false;
        while let Some(&first) = bytes.first() {
            match *self {
                Self::Bytes => return true,
                Self::Preface(matched) => {
                    let n = (H2_PREFACE.len() - matched).min(bytes.len());
                    if bytes[..n] != H2_PREFACE[matched..matched + n] {
                        *self = Self::Bytes;
                        return true;
                    }
                    traffic = true;
                    *self = if matched + n == H2_PREFACE.len() {
                        Self::FRAME
                    } else {
                        Self::Preface(matched + n)
                    };
                    bytes = &bytes[n..];
                }
                Self::Header { seen, length, kind } => {
                    let length = if seen < 3 {
                        (length << 8) | usize::from(first)
                    } else {
                        length
                    };
                    let kind = if seen == 3 { first } else { kind };
                    *self = if seen + 1 < H2_FRAME_HEADER {
                        Self::Header {
                            seen: seen + 1,
                            length,
                            kind,
                        }
                    } else {
                        traffic |= kind != H2_PING;
                        if length == 0 {
                            Self::FRAME
                        } else {
                            Self::Payload {
                                left: length,
                                ping: kind == H2_PING,
                            }
                        }
                    };
                    bytes = &bytes[1..];
                }
                Self::Payload { left, ping } => {
                    let n = left.min(bytes.len());
                    traffic |= !ping;
                    *self = if n == left {
                        Self::FRAME
                    } else {
                        Self::Payload {
                            left: left - n,
                            ping,
                        }
                    };
                    bytes = &bytes[n..];
                }
            }
        }
        traffic
    }
}

impl Idle {
    fn saw_read(&mut self, bytes: &[u8]) {
        if self.read.feed(bytes) {
            self.last = Instant::now();
        }
    }

    fn saw_write(&mut self, bytes: &[u8]) {
        let read = self.read;
        let write = self.write.get_or_insert(match read {
            Traffic::Header { .. } | Traffic::Payload { .. } => Traffic::FRAME,
            Traffic::Preface(_) | Traffic::Bytes => Traffic::Bytes,
        });
        if write.feed(bytes) {
            self.last = Instant::now();
        }
    }

    /// Whether `timeout` has passed since the last traffic; if not, the
    /// timer is armed (and `cx` woken) for when it would.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last + self.timeout;
            if due <= self.timer.deadline() {
                return true;
            }
            self.timer.as_mut().reset(due);
        }
    }
}

/// The opening in progress: its deadline and what has been seen so far.
#[derive(Debug)]
struct Watch {
    deadline: Pin<Box<Sleep>>,
    sniff: Sniff,
}

impl<S> Guarded<S> {
    pub(super) fn new(
        inner: S,
        permit: OwnedSemaphorePermit,
        deadline: Instant,
        opening: Opening,
    ) -> Self {
        Self {
            inner,
            opening: Some(Box::new(Watch {
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
                sniff: match opening {
                    Opening::Http { bound_head } => Sniff::Start {
                        matched: 0,
                        limit: if bound_head {
                            MAX_HEAD_BYTES
                        } else {
                            usize::MAX
                        },
                    },
                },
            })),
            idle: None,
            _permit: permit,
        }
    }

    /// This connection, whose reads fail once it has carried no traffic
    /// (bytes other than HTTP/2 pings, see the module doc) for `timeout`;
    /// `None`: no idle timeout.
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle = timeout.map(|timeout| {
            let plain = matches!(
                self.opening.as_ref().map(|watch| watch.sniff),
                Some(Sniff::Start { .. })
            );
            let last = Instant::now();
            Box::new(Idle {
                timeout,
                last,
                timer: Box::pin(tokio::time::sleep_until(last + timeout)),
                read: if plain {
                    Traffic::Preface(0)
                } else {
                    Traffic::Bytes
                },
                write: None,
            })
        });
        self
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// Where the opening's parse is; fed every byte read until it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sniff {
    /// The first bytes, matching the HTTP/2 preface so far; `limit` is the
    /// most bytes an HTTP/1 head may have.
    Start { matched: usize, limit: usize },
    /// HTTP/1: bytes of the head so far and the last bytes seen (to find
    /// the blank line, `\r\n\r\n` or a bare `\n\n`).
    Http1 {
        read: usize,
        tail: [u8; 3],
        limit: usize,
    },
    /// HTTP/2 after the preface: the first frame's header bytes so far
    /// (`header`), then its payload left to read.
    Http2Header { seen: usize, length: usize },
    /// HTTP/2: the first frame's payload bytes still to come.
    Http2Payload { left: usize },
    /// The opening is over.
    Done,
    /// An HTTP/1 head past its limit.
    TooLarge,
}

impl Sniff {
    /// This parse after `bytes`.
    fn feed(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self = self.step(b);
            if matches!(self, Self::Done | Self::TooLarge) {
                break;
            }
        }
        self
    }

    fn step(self, b: u8) -> Self {
        match self {
            Self::Start { matched, limit } if H2_PREFACE[matched] == b => {
                if matched + 1 == H2_PREFACE.len() {
                    Self::Http2Header { seen: 0, length: 0 }
                } else {
                    Self::Start {
                        matched: matched + 1,
                        limit,
                    }
                }
            }
            // Not the preface: HTTP/1, and the bytes matched so far were
            // its first ones (a prefix of the preface holds no newline).
            Self::Start { matched, limit } => Self::Http1 {
                read: matched,
                tail: [0; 3],
                limit,
            }
            .step(b),
            Self::Http1 { read, tail, limit } => {
                if b == b'\n' && (tail[2] == b'\n' || (tail[2] == b'\r' && tail[1] == b'\n')) {
                    Self::Done
                } else if read >= limit {
                    Self::TooLarge
                } else {
                    Self::Http1 {
                        read: read + 1,
                        tail: [tail[1], tail[2], b],
                        limit,
                    }
                }
            }
            Self::Http2Header { seen, length } => {
                let length = if seen < 3 {
                    (length << 8) | usize::from(b)
                } else {
                    length
                };
                if seen + 1 < H2_FRAME_HEADER {
                    Self::Http2Header {
                        seen: seen + 1,
                        length,
                    }
                } else if length == 0 {
                    Self::Done
                } else {
                    Self::Http2Payload {
                        left: length.min(H2_DEFAULT_MAX_FRAME),
                    }
                }
            }
            Self::Http2Payload { left } if left <= 1 => Self::Done,
            Self::Http2Payload { left } => Self::Http2Payload { left: left - 1 },
            Self::Done => Self::Done,
            Self::TooLarge => Self::TooLarge,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.opening.is_none() && this.idle.is_none() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if let Some(idle) = this.idle.as_mut() {
                    idle.saw_read(read);
                }
                if let Some(watch) = this.opening.as_mut() {
                    watch.sniff = watch.sniff.feed(read);
                    match watch.sniff {
                        Sniff::Done => this.opening = None,
                        Sniff::TooLarge => {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "the request head is larger than authd accepts before a first request",
                            )));
                        }
                        _ => {}
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if let Some(watch) = this.opening.as_mut()
                    && watch.deadline.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no complete request head within --header-read-timeout",
                    )));
                }
                if let Some(idle) = this.idle.as_mut()
                    && idle.expired(cx)
                {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no traffic within --grpc-idle-timeout",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let (Some(idle), Poll::Ready(Ok(n))) = (this.idle.as_mut(), &written) {
            idle.saw_write(&buf[..*n]);
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let (Some(idle), Poll::Ready(Ok(n))) = (this.idle.as_mut(), &written) {
            let mut left = *n;
            for slice in bufs {
                let take = left.min(slice.len());
                idle.saw_write(&slice[..take]);
                left -= take;
                if left == 0 {
                    break;
                }
            }
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// tonic reads the peer's address (and, over TLS, its certificates) from
/// this: the inner stream's, so `remote_addr()` and `peer_certs()` see what
/// they saw before the wrapper.
impl<S: tonic::transport::server::Connected> tonic::transport::server::Connected for Guarded<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;

    fn sniff(bytes: &[u8]) -> Sniff {
        Sniff::Start {
            matched: 0,
            limit: MAX_HEAD_BYTES,
        }
        .feed(bytes)
    }

    #[test]
    fn an_http1_head_ends_the_opening_at_its_blank_line_not_before() {
        assert!(matches!(
            sniff(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"),
            Sniff::Http1 { .. }
        ));
        assert_eq!(
            sniff(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
            Sniff::Done
        );
        assert_eq!(sniff(b"GET / HTTP/1.1\nHost: x\n\n"), Sniff::Done);
        // Byte by byte, as a slow client sends it, is the same.
        let mut s = sniff(b"");
        for b in b"POST / HTTP/1.1\r\n\r\n" {
            s = s.feed(&[*b]);
        }
        assert_eq!(s, Sniff::Done);
    }

    #[test]
    fn a_word_that_starts_like_the_preface_is_still_http1() {
        assert!(matches!(sniff(b"PRI"), Sniff::Start { matched: 3, .. }));
        assert!(matches!(sniff(b"PRIX / HTTP/1.1\r\n"), Sniff::Http1 { .. }));
        assert_eq!(sniff(b"PRIX / HTTP/1.1\r\n\r\n"), Sniff::Done);
    }

    #[test]
    fn an_http1_head_past_the_limit_is_too_large() {
        let mut head = b"GET / HTTP/1.1\r\nX: ".to_vec();
        head.resize(MAX_HEAD_BYTES + 10, b'a');
        assert_eq!(sniff(&head), Sniff::TooLarge);
        let unbounded = Sniff::Start {
            matched: 0,
            limit: usize::MAX,
        };
        assert!(matches!(unbounded.feed(&head), Sniff::Http1 { .. }));
    }

    #[test]
    fn http2_needs_the_whole_preface_and_the_first_frame() {
        assert!(matches!(sniff(&H2_PREFACE[..12]), Sniff::Start { .. }));
        assert!(matches!(
            sniff(H2_PREFACE),
            Sniff::Http2Header { seen: 0, .. }
        ));
        // A SETTINGS frame with one 6-byte setting.
        let mut opening = H2_PREFACE.to_vec();
        opening.extend_from_slice(&[0, 0, 6, 4, 0, 0, 0, 0, 0]);
        assert!(matches!(sniff(&opening), Sniff::Http2Payload { left: 6 }));
        opening.extend_from_slice(&[0, 3, 0, 0, 0, 100]);
        assert_eq!(sniff(&opening), Sniff::Done);
        // An empty SETTINGS frame is a whole frame too.
        let mut empty = H2_PREFACE.to_vec();
        empty.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        assert_eq!(sniff(&empty), Sniff::Done);
    }

    /// An HTTP/2 frame of `kind` with `payload`, on stream 0.
    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut bytes = vec![length[1], length[2], length[3], kind, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn pings_are_not_traffic_but_every_other_frame_and_http1_byte_is() {
        let ping = frame(H2_PING, &[7; 8]);
        let settings = frame(0x4, &[0, 3, 0, 0, 0, 100]);
        let mut read = Traffic::Preface(0);
        assert!(read.feed(H2_PREFACE), "the preface");
        assert_eq!(read, Traffic::FRAME);
        assert!(!read.feed(&ping));
        // Split anywhere, as reads split them: still no traffic.
        for b in ping.iter().chain(&ping) {
            assert!(!read.feed(&[*b]));
        }
        assert!(read.feed(&settings));
        assert!(!read.feed(&ping));
        // A ping and a frame in one read are traffic.
        assert!(read.feed(&[ping.clone(), settings].concat()));
        assert_eq!(read, Traffic::FRAME);
        // A DATA frame trickling in counts with each piece.
        let data = frame(0x0, &[1; 100]);
        assert!(read.feed(&data[..9]));
        assert!(read.feed(&data[9..50]));
        assert!(read.feed(&data[50..]));
        assert!(!read.feed(&ping));

        let mut http1 = Traffic::Preface(0);
        assert!(http1.feed(b"PRI"));
        assert!(http1.feed(b"X / HTTP/1.1\r\n"));
        assert_eq!(http1, Traffic::Bytes);
        assert!(http1.feed(&ping), "HTTP/1 bytes are never pings");
        assert!(!http1.feed(&[]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_with_only_pings_for_the_idle_timeout_fails_its_reads() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (mut client, server) = tokio::io::duplex(4096);
        let permit = Arc::new(Semaphore::new(1)).acquire_owned().await.unwrap();
        let opening = Opening::Http { bound_head: true };
        let far = Instant::now() + Duration::from_secs(3600);
        let mut server = Guarded::new(server, permit, far, opening)
            .with_idle_timeout(Some(Duration::from_secs(10)));
        let mut buf = [0_u8; 4096];
        let opening = [H2_PREFACE.as_slice(), &frame(0x4, &[])].concat();
        client.write_all(&opening).await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), opening.len());
        // Pings both ways for 9 s, then a frame that is traffic.
        for _ in 0..9 {
            tokio::time::advance(Duration::from_secs(1)).await;
            client.write_all(&frame(H2_PING, &[0; 8])).await.unwrap();
            assert_eq!(server.read(&mut buf).await.unwrap(), 17);
            server.write_all(&frame(H2_PING, &[0; 8])).await.unwrap();
        }
        server.write_all(&frame(0x0, &[1])).await.unwrap();
        // 10 s after it, not before, the next read fails.
        let started = Instant::now();
        let error = server.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}
