//! Glob-style pattern matching, exactly as Redis matches KEYS, SCAN MATCH, CONFIG GET and
//! PSUBSCRIBE patterns.
//!
//! Counterpart of Redis `util.c` `stringmatchlen`: `*` any run of bytes, `?` one byte,
//! `[abc]` / `[^abc]` / `[a-z]` a class, `\x` a literal `x`. Redis's quirks are kept on
//! purpose: an unclosed `[` matches up to the end of the pattern, a range may be written
//! backwards (`[z-a]`), and a trailing `\` matches a literal backslash... only if the string
//! has one. Matching is on bytes, so binary keys work.
//!
//! Redis limits recursion (each `*` recurses) to stop a pattern like `a*a*a*...*b` from
//! taking exponential time; the same limit and early exit are kept here.

/// Maximum nesting of `*` recursion before a match is abandoned (Redis uses 1000).
const MAX_NESTING: u32 = 1000;

/// True if `string` matches the glob `pattern`. `nocase` folds ASCII case.
///
/// As in Redis, an empty `string` matches nothing, not even `*`: callers that mean "all" by a
/// lone `*` (KEYS, SCAN) must check for it first, as Redis's do.
pub fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

fn match_impl(
    mut p: &[u8],
    mut s: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    nesting: u32,
) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_impl(&p[1..], s, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        // A deeper '*' already failed on every suffix: no shorter suffix
                        // can match either (Redis's fix for exponential patterns).
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => {
                s = &s[1..];
            }
            b'[' => {
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.is_empty() {
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if p[0] == s[0] {
                            matched = true;
                        }
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut start, mut end) = (p[0], p[2]);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let c = fold(s[0], nocase);
                        let (start, end) = (fold(start, nocase), fold(end, nocase));
                        p = &p[2..];
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if fold(p[0], nocase) == fold(s[0], nocase) {
                        matched = true;
                    }
                    p = &p[1..];
                }
                if p.is_empty() {
                    // Unclosed '[': Redis steps back so the loop's advance lands at the end.
                    if not {
                        matched = !matched;
                    }
                    if !matched {
                        return false;
                    }
                    s = &s[1..];
                    continue;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if fold(p[0], nocase) != fold(s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if fold(c, nocase) != fold(s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn basic_patterns() {
        assert!(matches(b"*", b"anything", false));
        // Redis quirk: the empty string matches no pattern, not even "*". KEYS and SCAN treat a
        // lone "*" as "everything" before calling the matcher, which is how empty keys show up.
        assert!(!matches(b"*", b"", false));
        assert!(matches(b"h?llo", b"hello", false));
        assert!(!matches(b"h?llo", b"hllo", false));
        assert!(matches(b"h*llo", b"hllo", false));
        assert!(matches(b"h*llo", b"heeeello", false));
        assert!(matches(b"h[ae]llo", b"hallo", false));
        assert!(!matches(b"h[ae]llo", b"hillo", false));
        assert!(matches(b"h[^e]llo", b"hallo", false));
        assert!(!matches(b"h[^e]llo", b"hello", false));
        assert!(matches(b"h[a-b]llo", b"hbllo", false));
        assert!(matches(b"h[b-a]llo", b"hbllo", false));
        assert!(matches(b"h\\*llo", b"h*llo", false));
        assert!(!matches(b"h\\*llo", b"hello", false));
        assert!(matches(b"foo*", b"foo", false));
        assert!(matches(b"*bar", b"foobar", false));
        assert!(!matches(b"*bar", b"foobaz", false));
        assert!(matches(b"HELLO", b"hello", true));
        assert!(!matches(b"HELLO", b"hello", false));
        assert!(matches(b"a*", &[b'a', 0, 0xff], false));
    }

    #[test]
    fn pathological_pattern_finishes_quickly() {
        let pattern = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let string = vec![b'a'; 10_000];
        assert!(!matches(pattern, &string, false));
    }
}
