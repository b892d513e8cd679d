//! The three socket operations std does not offer, behind one small module.
//!
//! respd is built from blocking threads, and std's blocking `TcpStream` covers almost all of it.
//! Three things are missing, and each has a reason:
//!
//! 1. **A send that never blocks** (`send(2)` with `MSG_DONTWAIT`). A worker that blocks in
//!    `write` stops reading. If its client is itself still writing a long pipeline and not yet
//!    reading replies, both sides wait on each other forever. Sending with `MSG_DONTWAIT` lets
//!    the worker push what the kernel will take, keep the rest queued in memory, and go back to
//!    reading — which is what Redis's event loop does.
//! 2. **Waiting for "readable or writable"** (`poll(2)` on the one socket). Only needed while
//!    replies are queued: then the worker must wake up for whichever comes first, new requests
//!    or room in the send buffer. With nothing queued it simply blocks in `read`.
//! 3. **A listen backlog of 511** (`listen(2)`). `TcpListener::bind` always uses 128, too small
//!    for a burst of thousands of connects; Redis's `tcp-backlog` default is 511.
//!
//! Plus one for the few clients that other threads must wake up: a subscriber receiving a
//! published message, or a client blocked in BLPOP whose list just got an element. Such a
//! worker waits on its socket *and* a [`Waker`] (an `eventfd`, a counter the kernel can poll),
//! so it sleeps until either has something for it. Ordinary clients never create one.
//!
//! And one process setting: the open files limit (`getrlimit`/`setrlimit` on
//! `RLIMIT_NOFILE`), which decides how many clients can be served at all (see
//! [`crate::server::adjust_open_files_limit`]).
//!
//! All calls go through `rustix`, which wraps the system calls safely. The one exception is
//! [`take_inherited_fds`] (systemd socket activation): turning a file descriptor *number* that
//! another process left open for us into an owned socket is a promise no library can check,
//! so it is the crate's only `unsafe` block, allowed for that one function (lib.rs denies
//! `unsafe` everywhere else).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

/// Sends as much of `buf` as the kernel accepts right now, without blocking.
///
/// Returns the number of bytes sent; `Ok(0)` means the send buffer is full (would block).
/// `MSG_NOSIGNAL` turns a write to a closed peer into an `EPIPE` error instead of a signal.
pub(crate) fn send_nonblocking(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    match rustix::net::send(stream, buf, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
        Ok(n) => Ok(n),
        Err(rustix::io::Errno::AGAIN) => Ok(0),
        Err(rustix::io::Errno::INTR) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Reads whatever is available, without blocking.
///
/// Returns `Ok(None)` when nothing is available yet, `Ok(Some(0))` at end of stream.
pub(crate) fn recv_nonblocking(stream: &TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match rustix::net::recv(stream, buf, RecvFlags::DONTWAIT) {
        Ok((n, _)) => Ok(Some(n)),
        Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What a non-blocking peek finds in a socket's receive queue ([`peek`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peeked {
    /// Bytes the connection's own worker has not read yet.
    Unread,
    /// The peer has closed its end (or reset it) and nothing is left to read.
    Closed,
    /// Nothing to read yet.
    Nothing,
}

/// Looks into `stream`'s receive queue without taking anything from it and without
/// blocking. Other threads use it to tell that a connection is over, or has requests
/// waiting, before its own worker has noticed (see `crate::pubsub`).
pub fn peek(stream: &TcpStream) -> Peeked {
    let mut probe = [0u8; 1];
    match rustix::net::recv(
        stream,
        &mut probe[..],
        RecvFlags::DONTWAIT | RecvFlags::PEEK,
    ) {
        Ok((0, _)) | Err(rustix::io::Errno::CONNRESET) => Peeked::Closed,
        Ok(_) => Peeked::Unread,
        Err(_) => Peeked::Nothing,
    }
}

/// True when the peer has closed its end of `stream` (or reset it) and nothing is left to
/// read ([`peek`]).
pub(crate) fn peer_closed(stream: &TcpStream) -> bool {
    peek(stream) == Peeked::Closed
}

/// What [`wait`] found ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Readiness {
    /// New bytes (or end of stream, or an error) can be read.
    pub readable: bool,
    /// The send buffer has room again.
    pub writable: bool,
}

/// Blocks until the socket is readable (if `want_read`) or writable (if `want_write`), or
/// until `timeout` passes (`None` = forever). Errors and hang-ups count as readable, so the
/// caller notices them on its next read.
pub fn wait(
    stream: &TcpStream,
    want_read: bool,
    want_write: bool,
    timeout: Option<Duration>,
) -> io::Result<Readiness> {
    let mut flags = PollFlags::empty();
    if want_read {
        flags |= PollFlags::IN;
    }
    if want_write {
        flags |= PollFlags::OUT;
    }
    let mut fds = [PollFd::new(stream, flags)];
    let timespec = timeout.map(|d| Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: d.subsec_nanos() as i64,
    });
    match poll(&mut fds, timespec.as_ref()) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return Ok(Readiness::default()),
        Err(e) => return Err(e.into()),
    }
    let revents = fds[0].revents();
    let trouble = revents.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL);
    Ok(Readiness {
        readable: revents.contains(PollFlags::IN) || trouble,
        writable: revents.contains(PollFlags::OUT) || trouble,
    })
}

/// The open files limit (`RLIMIT_NOFILE`): (soft, hard), `u64::MAX` meaning unlimited.
pub(crate) fn open_files_limit() -> (u64, u64) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    (
        limit.current.unwrap_or(u64::MAX),
        limit.maximum.unwrap_or(u64::MAX),
    )
}

/// Sets both the soft and the hard open files limit to `limit`, as Redis's
/// `adjustOpenFilesLimit` does. Raising the hard limit needs privileges (`CAP_SYS_RESOURCE`);
/// lowering it cannot be undone by this process.
pub(crate) fn set_open_files_limit(limit: u64) -> io::Result<()> {
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(limit),
            maximum: Some(limit),
        },
    )?;
    Ok(())
}

/// True for the accept errors that mean "out of file descriptors or kernel memory": retrying
/// at once cannot succeed, so the accept loop backs off.
pub(crate) fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(rustix::io::Errno::from_raw_os_error),
        Some(
            rustix::io::Errno::MFILE
                | rustix::io::Errno::NFILE
                | rustix::io::Errno::NOBUFS
                | rustix::io::Errno::NOMEM
        )
    )
}

/// An OS error as C's `strerror` words it ("Operation not permitted"), without the
/// " (os error 1)" std adds, for log lines that repeat Redis's.
pub(crate) fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// CLOCK_MONOTONIC in microseconds, the clock systemd's `MONOTONIC_USEC=` is read against.
pub fn monotonic_usec() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64) * 1_000_000 + (t.tv_nsec as u64) / 1_000
}

/// A wake-up signal another thread can send to one worker (`eventfd(2)`).
#[derive(Debug)]
pub(crate) struct Waker {
    fd: std::os::fd::OwnedFd,
}

impl Waker {
    /// Creates a waker with no pending signal.
    pub fn new() -> io::Result<Waker> {
        let fd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )?;
        Ok(Waker { fd })
    }

    /// Signals the worker. Signals add up until [`Waker::clear`]; waking twice is harmless.
    pub fn wake(&self) {
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Consumes pending signals.
    pub fn clear(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut buf);
    }
}

/// Like [`wait`], but also returns when `waker` is signalled (third value: woken).
pub(crate) fn wait_or_wake(
    stream: &TcpStream,
    waker: &Waker,
    want_read: bool,
    want_write: bool,
    timeout: Option<Duration>,
) -> io::Result<(Readiness, bool)> {
    let mut flags = PollFlags::empty();
    if want_read {
        flags |= PollFlags::IN;
    }
    if want_write {
        flags |= PollFlags::OUT;
    }
    let mut fds = [
        PollFd::new(stream, flags),
        PollFd::new(&waker.fd, PollFlags::IN),
    ];
    let timespec = timeout.map(|d| Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: d.subsec_nanos() as i64,
    });
    match poll(&mut fds, timespec.as_ref()) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return Ok((Readiness::default(), false)),
        Err(e) => return Err(e.into()),
    }
    let revents = fds[0].revents();
    let trouble = revents.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL);
    let woken = fds[1].revents().contains(PollFlags::IN);
    if woken {
        waker.clear();
    }
    Ok((
        Readiness {
            readable: revents.contains(PollFlags::IN) || trouble,
            writable: revents.contains(PollFlags::OUT) || trouble,
        },
        woken,
    ))
}

/// Binds a listening TCP socket with `SO_REUSEADDR` and the given backlog (`tcp-backlog`).
///
/// IPv6 sockets are made v6-only, so `bind 127.0.0.1 ::1` can hold both families on one port,
/// as Redis does.
pub(crate) fn bind_listener(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
    if addr.is_ipv6() {
        rustix::net::sockopt::set_ipv6_v6only(&fd, true)?;
    }
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, backlog.min(i32::MAX as u32) as i32)?;
    Ok(TcpListener::from(fd))
}

/// Sets the listen backlog of an already listening socket (Linux accepts a second `listen`).
/// Used for listeners bound by someone else, such as tests binding `127.0.0.1:0`.
pub(crate) fn set_backlog(listener: &TcpListener, backlog: u32) -> io::Result<()> {
    rustix::net::listen(listener, backlog.min(i32::MAX as u32) as i32)?;
    Ok(())
}

/// Turns on TCP keepalive probes after `seconds` of silence (`tcp-keepalive`), so dead peers
/// are noticed even when a client never sends again.
pub(crate) fn set_keepalive(stream: &TcpStream, seconds: u64) -> io::Result<()> {
    rustix::net::sockopt::set_socket_keepalive(stream, true)?;
    let d = Duration::from_secs(seconds.max(1));
    rustix::net::sockopt::set_tcp_keepidle(stream, d)?;
    rustix::net::sockopt::set_tcp_keepintvl(stream, Duration::from_secs((seconds / 3).max(1)))?;
    rustix::net::sockopt::set_tcp_keepcnt(stream, 3)?;
    Ok(())
}

/// Wakes a thread blocked in `accept` on `listener` (its `accept` fails from then on).
/// Linux reports `EINVAL` to `accept` after `shutdown(SHUT_RD)` on a listening socket.
pub(crate) fn wake_listener(listener: &TcpListener) {
    let _ = rustix::net::shutdown(listener, rustix::net::Shutdown::Read);
}

/// The first file descriptor of socket activation (`SD_LISTEN_FDS_START`): 0, 1 and 2 are
/// the standard streams, so the service manager puts the sockets it passes at 3, 4, ...
pub(crate) const LISTEN_FDS_START: RawFd = 3;

/// Takes ownership of the sockets systemd passed by socket activation (`sd_listen_fds`).
///
/// systemd sets `LISTEN_PID` to the pid of the process the sockets are for and `LISTEN_FDS`
/// to how many there are, starting at fd 3. If `LISTEN_PID` is not our pid (the variables
/// were inherited by a child of the real recipient, say) there is nothing for us. The
/// variables are removed once read, so a process started later never claims the same fds,
/// and a second call returns nothing: each fd is owned exactly once.
///
/// # Why `unsafe`
/// `OwnedFd::from_raw_fd` is `unsafe` because the compiler cannot know that the number names
/// an open descriptor nobody else owns; closing the `OwnedFd` closes that number. Here the
/// protocol is the guarantee: the fds were opened by the service manager for this pid, and
/// nothing else in respd refers to fds 3.. by number (std and rustix only ever close the
/// fds they opened themselves). std offers no safe constructor from a number, and neither
/// does rustix. The one safe detour, `pidfd_getfd(2)` on our own pid, returns a *duplicate*
/// and leaves the original open forever (closing it would need the same `unsafe`), needs
/// Linux 5.6 and a system call outside systemd's `@system-service` filter. So this one call
/// stays `unsafe`, in this one function.
#[allow(unsafe_code)]
pub(crate) fn take_inherited_fds() -> Vec<OwnedFd> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Vec::new();
    }
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<RawFd>().ok())
        .unwrap_or(0);
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(name);
    }
    if !for_us || count <= 0 {
        return Vec::new();
    }
    (LISTEN_FDS_START..LISTEN_FDS_START.saturating_add(count))
        // SAFETY: systemd opened fds LISTEN_FDS_START .. +LISTEN_FDS for this very process
        // (LISTEN_PID matched) and nothing else in respd owns them; TAKEN and the removed
        // variables make sure each is wrapped only once.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect()
}

/// What an inherited fd turned out to be, for [`take_inherited_fds`]'s callers: a listening
/// TCP socket (and its address), or something respd cannot use (with the reason).
pub(crate) fn inherited_listener(
    fd: OwnedFd,
) -> Result<(TcpListener, SocketAddr), (OwnedFd, String)> {
    match rustix::net::sockopt::socket_type(&fd) {
        Ok(SocketType::STREAM) => {}
        Ok(_) => return Err((fd, "not a stream socket".into())),
        Err(e) => return Err((fd, format!("not a socket ({e})"))),
    }
    if !rustix::net::sockopt::socket_acceptconn(&fd).unwrap_or(false) {
        return Err((fd, "not a listening socket".into()));
    }
    let listener = TcpListener::from(fd);
    match listener.local_addr() {
        Ok(addr) => Ok((listener, addr)),
        // A Unix stream socket: local_addr cannot read it as an IP address.
        Err(e) => Err((listener.into(), format!("not a TCP socket ({e})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn nonblocking_send_reports_a_full_buffer_as_zero() {
        let listener = bind_listener("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let chunk = vec![b'x'; 1 << 20];
        let mut sent = 0usize;
        // Nobody reads `client`, so the kernel buffers fill and a send must return 0.
        loop {
            let n = send_nonblocking(&server, &chunk).unwrap();
            if n == 0 {
                break;
            }
            sent += n;
            assert!(sent < 1 << 30, "send never reported a full buffer");
        }
        let ready = wait(&server, false, true, Some(Duration::from_millis(10))).unwrap();
        assert!(!ready.writable);
        drop(client);
    }

    #[test]
    fn a_waker_interrupts_a_wait_from_another_thread() {
        let listener = bind_listener("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let waker = std::sync::Arc::new(Waker::new().unwrap());
        let (ready, woken) = wait_or_wake(
            &server,
            &waker,
            true,
            false,
            Some(Duration::from_millis(10)),
        )
        .unwrap();
        assert!(!ready.readable && !woken);
        let remote = waker.clone();
        let t = std::thread::spawn(move || remote.wake());
        let (_, woken) =
            wait_or_wake(&server, &waker, true, false, Some(Duration::from_secs(10))).unwrap();
        assert!(woken);
        t.join().unwrap();
        let (_, woken) = wait_or_wake(
            &server,
            &waker,
            true,
            false,
            Some(Duration::from_millis(10)),
        )
        .unwrap();
        assert!(!woken, "the signal was consumed");
    }

    #[test]
    fn recv_nonblocking_sees_nothing_then_data_then_eof() {
        let listener = bind_listener("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(recv_nonblocking(&server, &mut buf).unwrap(), None);
        client.write_all(b"hi").unwrap();
        let ready = wait(&server, true, false, Some(Duration::from_secs(5))).unwrap();
        assert!(ready.readable);
        assert_eq!(recv_nonblocking(&server, &mut buf).unwrap(), Some(2));
        drop(client);
        assert_eq!(server.read(&mut buf).unwrap(), 0);
    }
}
