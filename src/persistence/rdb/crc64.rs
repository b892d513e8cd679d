//! CRC-64 (Redis `crc64.c`): the checksum at the end of an RDB file and a DUMP payload.

/// The CRC-64 Redis appends to a dump: the "Jones" polynomial 0xad93d23594c935a9, reflected
/// input and output, initial value 0, no final xor. Table-driven, one byte per step; the
/// table holds the reflected polynomial's remainders of every byte value.
pub fn crc64(crc: u64, data: &[u8]) -> u64 {
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        // 0xad93d23594c935a9 with its 64 bits in reverse order, for the reflected algorithm.
        let poly = 0xad93d23594c935a9u64.reverse_bits();
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u64;
            for _ in 0..8 {
                c = if c & 1 == 1 { (c >> 1) ^ poly } else { c >> 1 };
            }
            *slot = c;
        }
        t
    });
    data.iter().fold(crc, |c, &b| {
        table[((c ^ u64::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_check_value() {
        // The standard check input for CRC-64/Jones ("123456789"), as in Redis's crc64 test.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6d914c4b8d9ca);
    }
}
