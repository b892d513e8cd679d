//! Encoding records: the RESP form of a command as the AOF and replicas get it.
//!
//! What a command's record says is the command's own business: it states its effects
//! ([`crate::cmd::Effects`]), so nothing here looks at command names or replies.

use super::*;

pub(super) fn push_command<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.push(b'*');
    push_i64(out, args.len() as i64);
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        push_i64(out, arg.len() as i64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

pub(super) fn push_select(out: &mut Vec<u8>, db: usize) {
    let n = db.to_string();
    push_command(out, [&b"SELECT"[..], n.as_bytes()].into_iter());
}
