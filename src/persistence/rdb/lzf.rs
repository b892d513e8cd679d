//! LZF string compression (Redis `lzf_c.c` / `lzf_d.c`), for strings in RDB files and DUMP
//! payloads.

/// Compresses `input` in the LZF format (what Redis's `lzf_compress` produces, byte for byte
/// compatible with `lzf_decompress`, though not necessarily the same bytes). Returns `None`
/// when the output would not be shorter than `max_out` bytes.
///
/// The format is a sequence of two kinds of chunks:
/// - a *literal run*: one byte `000LLLLL` (L+1 literal bytes follow, 1..=32);
/// - a *back reference*: `LLLOOOOO OOOOOOOO` copies L+2 bytes from `offset+1` bytes back, and
///   when L is 7 an extra byte adds to the length (`111OOOOO EEEEEEEE OOOOOOOO`, length E+9).
///
/// Matches are found with a hash table of 3-byte prefixes, as the reference implementation
/// does; a miss simply extends the current literal run.
pub fn lzf_compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    const HASH_BITS: u32 = 14;
    const MAX_OFF: usize = 1 << 13;
    const MAX_REF: usize = (1 << 8) + (1 << 3);
    const MAX_LIT: usize = 1 << 5;
    let n = input.len();
    let mut out = Vec::with_capacity(max_out);
    let mut table = vec![0usize; 1 << HASH_BITS]; // position + 1 of the last 3-byte prefix
    let hash = |p: usize| {
        let v =
            (u32::from(input[p]) << 16) | (u32::from(input[p + 1]) << 8) | u32::from(input[p + 2]);
        (v.wrapping_mul(2654435761) >> (32 - HASH_BITS)) as usize
    };
    let mut lit_start = 0; // start of the pending literal run
    let mut i = 0;
    let flush_literals = |out: &mut Vec<u8>, from: usize, to: usize| {
        for chunk in input[from..to].chunks(MAX_LIT) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    };
    while i + 2 < n {
        let h = hash(i);
        let candidate = table[h];
        table[h] = i + 1;
        if candidate > 0 {
            let r = candidate - 1;
            let off = i - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[i..i + 3] {
                let max_len = (n - i).min(MAX_REF);
                let mut len = 3;
                while len < max_len && input[r + len] == input[i + len] {
                    len += 1;
                }
                flush_literals(&mut out, lit_start, i);
                let l = len - 2;
                if l < 7 {
                    out.push(((l as u8) << 5) | (off >> 8) as u8);
                } else {
                    out.push((7 << 5) | (off >> 8) as u8);
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                i += len;
                lit_start = i;
                if out.len() >= max_out {
                    return None;
                }
                continue;
            }
        }
        i += 1;
    }
    flush_literals(&mut out, lit_start, n);
    (out.len() < max_out).then_some(out)
}

/// Expands an LZF blob into exactly `len` bytes; `None` if the blob is malformed.
///
/// A claimed `len` the input could never expand to is refused before anything is allocated:
/// the longest chunk, a 3-byte back reference, yields 264 bytes, so no blob grows by more than
/// 88 times. The length comes from the file (or from a RESTORE payload, i.e. from a client).
pub fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    if len > input.len().saturating_mul(88) {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            out.extend_from_slice(input.get(i..i + run)?);
            i += run;
        } else {
            let mut l = ctrl >> 5;
            if l == 7 {
                l += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            // Byte by byte: a reference may overlap the bytes it produces (runs).
            for k in 0..l + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lzf_round_trip() {
        let inputs: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"hello hello hello hello hello world world world".to_vec(),
            (0..5000u32).map(|i| (i % 251) as u8).collect(),
            (0..3000u32).map(|i| (i * 7 % 13) as u8).collect(),
        ];
        for input in inputs {
            let packed = lzf_compress(&input, input.len()).expect("compressible");
            assert!(packed.len() < input.len());
            assert_eq!(lzf_decompress(&packed, input.len()).unwrap(), input);
        }
        // Incompressible input is refused rather than grown.
        let noise: Vec<u8> = (0..64u64)
            .map(|i| (i.wrapping_mul(0x9E3779B97F4A7C15) >> 56) as u8)
            .collect();
        assert!(lzf_compress(&noise, noise.len() - 4).is_none());
    }
}
