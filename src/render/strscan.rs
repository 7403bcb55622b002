//! Finding and checking JSON strings in a line, a block of bytes at a time: the inner loop of
//! `live`, which looks at every byte of every string codex sends (most of a stream is command
//! output).
//!
//! A string is scanned 64 bytes at a time, as simdjson does: one bit mask per kind of byte
//! (quote, backslash, control, non-ASCII), then plain integer arithmetic on the masks finds
//! which bytes a backslash escapes and where the closing quote is. An output has an escaped
//! newline every line; stopping at each escape, as a byte-by-byte scanner does, cost a
//! mispredicted branch every few dozen bytes.

use super::safe::has_c1_control;
use crate::simd::Level;

/// The string whose opening quote is at `at` in `line`: the bytes between its quotes and the
/// position after the closing quote. `None` unless serde would accept it as a JSON string (no
/// raw control bytes, valid escapes, no lone surrogates, valid UTF-8), and also for a string
/// with a raw DEL or C1 control character, which a terminal may act on: the renderer's general
/// path shows it made safe (see [`super::safe`]).
pub(super) fn string_at(line: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let start = at + 1;
    // Most strings (keys, ids, types, statuses) are short and plain: one look at their first
    // 16 bytes finds their end.
    let head = line.get(start..line.len().min(start + 16))?;
    if let (run, non_ascii) = plain_run(head)
        && head.get(run) == Some(&b'"')
    {
        let raw = &head[..run];
        if non_ascii && (std::str::from_utf8(raw).is_err() || has_c1_control(raw)) {
            return None;
        }
        return Some((raw, start + run + 1));
    }
    long_string(crate::simd::level(), line, start)
}

/// [`string_at`] for a string longer than its first look: 64 bytes at a time, with the widest
/// compares this CPU has (one AVX-512 compare per kind of byte, or two AVX2 ones, or four
/// SSE2 ones). Command output is most of what `live` reads, and most of it is in such strings.
/// `level` must be one this CPU has (tests try each).
fn long_string(level: Level, line: &[u8], start: usize) -> Option<(&[u8], usize)> {
    #[cfg(target_arch = "x86_64")]
    match level {
        // SAFETY: the CPU has AVX-512BW (that is what the level says).
        Level::Avx512 => return unsafe { long_string_avx512(line, start) },
        // SAFETY: the CPU has AVX2.
        Level::Avx2 => return unsafe { long_string_avx2(line, start) },
        Level::Base => {}
    }
    scan_blocks(line, start, Masks::of)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
unsafe fn long_string_avx512(line: &[u8], start: usize) -> Option<(&[u8], usize)> {
    use std::arch::x86_64::{
        __m512i, _mm512_cmpeq_epi8_mask, _mm512_cmple_epu8_mask, _mm512_loadu_si512,
        _mm512_movepi8_mask, _mm512_set1_epi8,
    };
    scan_blocks(line, start, |block| {
        // SAFETY: the load reads the 64 bytes of `block` (unaligned loads are allowed).
        let bytes = unsafe { _mm512_loadu_si512(block.as_ptr().cast::<__m512i>()) };
        let eq = |byte: u8| _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8(byte as i8));
        Masks {
            quote: eq(b'"'),
            backslash: eq(b'\\'),
            letter_n: eq(b'n'),
            control: _mm512_cmple_epu8_mask(bytes, _mm512_set1_epi8(0x1f)) | eq(0x7f),
            high: _mm512_movepi8_mask(bytes),
        }
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn long_string_avx2(line: &[u8], start: usize) -> Option<(&[u8], usize)> {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_max_epu8, _mm256_movemask_epi8,
        _mm256_set1_epi8,
    };
    scan_blocks(line, start, |block| {
        let half = |at: usize| {
            // SAFETY: the load reads 32 bytes inside `block` (unaligned loads are allowed).
            let bytes = unsafe { _mm256_loadu_si256(block.as_ptr().add(at).cast::<__m256i>()) };
            let mask = |v: __m256i| u64::from(_mm256_movemask_epi8(v) as u32);
            let eq = |byte: u8| mask(_mm256_cmpeq_epi8(bytes, _mm256_set1_epi8(byte as i8)));
            let low = _mm256_set1_epi8(0x1f);
            Masks {
                quote: eq(b'"'),
                backslash: eq(b'\\'),
                letter_n: eq(b'n'),
                // max(b, 0x1f) == 0x1f exactly when b <= 0x1f (unsigned); and DEL.
                control: mask(_mm256_cmpeq_epi8(_mm256_max_epu8(bytes, low), low)) | eq(0x7f),
                high: mask(bytes),
            }
        };
        let (lo, hi) = (half(0), half(32));
        Masks {
            quote: lo.quote | hi.quote << 32,
            backslash: lo.backslash | hi.backslash << 32,
            letter_n: lo.letter_n | hi.letter_n << 32,
            control: lo.control | hi.control << 32,
            high: lo.high | hi.high << 32,
        }
    })
}

/// The block loop of [`long_string`], given how to compute a block's masks. Inlined into each
/// caller, so the masks are computed with that caller's instructions.
#[inline(always)]
fn scan_blocks(
    line: &[u8],
    start: usize,
    masks_of: impl Fn(&[u8; 64]) -> Masks,
) -> Option<(&[u8], usize)> {
    let mut pos = start;
    // Carried from one block to the next: whether its first byte is escaped by a backslash
    // that ends the block before, and where the last escape checked by hand ends.
    let mut escaped_carry = 0;
    let mut checked_to = start;
    // Where the first non-ASCII byte is: the UTF-8 check starts there (what comes before is
    // ASCII, so it starts on a character).
    let mut first_non_ascii = None;
    loop {
        let mut padded = [b' '; 64];
        let block: &[u8; 64] = match line.get(pos..pos + 64) {
            Some(block) => block.try_into().ok()?,
            None => {
                // The end of the line: the rest, padded with spaces (plain bytes). A string
                // that does not end here does not end at all.
                let rest = line.get(pos..).filter(|rest| !rest.is_empty())?;
                padded[..rest.len()].copy_from_slice(rest);
                &padded
            }
        };
        let masks = masks_of(block);
        let escaped = escaped_bytes(masks.backslash, &mut escaped_carry);
        let quotes = masks.quote & !escaped;
        // The bytes of this block that belong to the string: those before the closing quote.
        let inside = quotes.wrapping_sub(1) & !quotes;
        if masks.control & inside != 0 {
            return None;
        }
        let high = masks.high & inside;
        if high != 0 && first_non_ascii.is_none() {
            first_non_ascii = Some(pos + high.trailing_zeros() as usize);
        }
        // `\"`, `\\` and `\n` are most escapes; the others are checked one by one.
        let others = escaped & inside & !(masks.quote | masks.backslash | masks.letter_n);
        if others != 0 {
            checked_to = check_escapes(line, pos, others, checked_to)?;
        }
        if quotes != 0 {
            let end = pos + quotes.trailing_zeros() as usize;
            if let Some(from) = first_non_ascii
                && (std::str::from_utf8(&line[from..end]).is_err()
                    || has_c1_control(&line[from..end]))
            {
                return None;
            }
            return Some((&line[start..end], end + 1));
        }
        pos += 64;
    }
}

/// How many bytes at the start of `bytes` are plain string content, i.e. neither `"`, `\`
/// nor a control byte (< 0x20, or DEL), and whether a non-ASCII byte is among them. Every byte of
/// every string `live` shows goes through here, mostly in runs of a few dozen bytes (an
/// output has an escaped newline every line), so it is inlined and reads 16 bytes at a time
/// with SSE2, which every x86-64 CPU has; a call to `memchr` per run cost more in set-up
/// than in search.
#[inline]
pub(super) fn plain_run(bytes: &[u8]) -> (usize, bool) {
    #[cfg(target_arch = "x86_64")]
    {
        plain_run_sse2(bytes)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        plain_run_bytes(bytes, 0, false)
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn plain_run_sse2(bytes: &[u8]) -> (usize, bool) {
    // Bit i of the first mask: byte i is special; of the second: byte i is >= 0x80.
    let masks = |part: &[u8]| {
        let m = part.first_chunk::<16>().map(masks16).unwrap_or_default();
        (
            u32::from(m.quote | m.backslash | m.control),
            u32::from(m.high),
        )
    };
    let mut at = 0;
    let mut high = 0;
    while let Some(block) = bytes.get(at..at + 16) {
        let (special, non_ascii) = masks(block);
        if special != 0 {
            let run = special.trailing_zeros();
            let before = (1u32 << run) - 1;
            return (at + run as usize, (high | (non_ascii & before)) != 0);
        }
        high |= non_ascii;
        at += 16;
    }
    if bytes.len() >= 16 && at < bytes.len() {
        // The last bytes: one load that ends at the end, the bytes already seen masked off.
        let from = bytes.len() - 16;
        let seen = at - from;
        let (special, non_ascii) = masks(&bytes[from..]);
        let (special, non_ascii) = (special >> seen, non_ascii >> seen);
        let run = special.trailing_zeros().min(16 - seen as u32);
        let before = if run >= 16 {
            u32::MAX
        } else {
            (1u32 << run) - 1
        };
        return (at + run as usize, (high | (non_ascii & before)) != 0);
    }
    plain_run_bytes(bytes, at, high != 0)
}

/// [`plain_run`] a byte at a time from `at`, for short strings and other CPUs.
#[inline]
fn plain_run_bytes(bytes: &[u8], at: usize, mut non_ascii: bool) -> (usize, bool) {
    for (i, &b) in bytes.iter().enumerate().skip(at) {
        if b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f {
            return (i, non_ascii);
        }
        non_ascii |= b >= 0x80;
    }
    (bytes.len(), non_ascii)
}

/// Check the escapes whose second byte is at a set bit of `bits` (bit i: `line[pos + i]`), the
/// backslash before it; those that end before `checked_to` were checked as part of the one
/// before (the second half of a surrogate pair). Returns where the last one checked ends.
fn check_escapes(line: &[u8], pos: usize, mut bits: u64, mut checked_to: usize) -> Option<usize> {
    while bits != 0 {
        let backslash = pos + bits.trailing_zeros() as usize - 1;
        bits &= bits - 1;
        if backslash >= checked_to {
            checked_to = backslash + escape_len(&line[backslash..])?;
        }
    }
    Some(checked_to)
}

/// How many bytes the escape at the start of `escape` (a backslash) takes, if serde would
/// accept it: one of `"\/bfnrt`, or `\uXXXX` that is not a lone surrogate.
pub(super) fn escape_len(escape: &[u8]) -> Option<usize> {
    match escape.get(1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(2),
        b'u' => match hex4(escape.get(2..6))? {
            0xD800..=0xDBFF => match (escape.get(6..8), hex4(escape.get(8..12))) {
                (Some(b"\\u"), Some(0xDC00..=0xDFFF)) => Some(12),
                _ => None,
            },
            0xDC00..=0xDFFF => None,
            _ => Some(6),
        },
        _ => None,
    }
}

/// Exactly four hex digits (`from_str_radix` alone would take a sign).
pub(super) fn hex4(digits: Option<&[u8]>) -> Option<u32> {
    let digits = digits?;
    if digits.len() != 4 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// The bytes that a backslash escapes, given where the backslashes are. A run of backslashes
/// escapes every second byte from its start, and the byte after it if the run is odd; a run
/// may begin in an earlier block, which `carry` (0 or 1: is this block's first byte escaped?)
/// passes on. This is simdjson's branch-free method: adding the odd-position run starts to the
/// backslash mask carries each such run to its end.
fn escaped_bytes(backslash: u64, carry: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    // An escaped first byte is not the start of an escape, even if it is a backslash.
    let backslash = backslash & !*carry;
    let follows_backslash = (backslash << 1) | *carry;
    let odd_starts = backslash & !EVEN & !follows_backslash;
    let (runs_from_even, overflow) = odd_starts.overflowing_add(backslash);
    *carry = u64::from(overflow);
    (EVEN ^ (runs_from_even << 1)) & follows_backslash
}

/// Bit i of each mask stands for byte i of a 64-byte block.
#[derive(Debug, Default, PartialEq, Eq)]
struct Masks {
    quote: u64,
    backslash: u64,
    /// Bytes below 0x20, which a JSON string may not hold raw, and DEL, which it may but a
    /// terminal acts on: neither goes the one-pass way.
    control: u64,
    /// Bytes 0x80 and above: the string needs a UTF-8 check.
    high: u64,
    /// `n`: after a backslash, the newline that outputs are full of.
    letter_n: u64,
}

/// [`Masks`] for 16 bytes, as one set of SSE2 compares finds them; the 64-byte scan and
/// [`plain_run`] both read bytes this way.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Default)]
struct Masks16 {
    quote: u16,
    backslash: u16,
    letter_n: u16,
    control: u16,
    high: u16,
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn masks16(part: &[u8; 16]) -> Masks16 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_set1_epi8,
    };
    // SAFETY: `part` is 16 readable bytes (the load needs no alignment), and SSE2 is part of
    // every x86-64 CPU.
    unsafe {
        let bytes = _mm_loadu_si128(part.as_ptr().cast());
        let mask = |v: __m128i| _mm_movemask_epi8(v) as u16;
        let eq = |byte: u8| mask(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(byte as i8)));
        let low = _mm_set1_epi8(0x1f);
        Masks16 {
            quote: eq(b'"'),
            backslash: eq(b'\\'),
            letter_n: eq(b'n'),
            // max(b, 0x1f) == 0x1f exactly when b <= 0x1f (unsigned); and DEL.
            control: mask(_mm_cmpeq_epi8(_mm_max_epu8(bytes, low), low)) | eq(0x7f),
            high: mask(bytes),
        }
    }
}

impl Masks {
    #[cfg(target_arch = "x86_64")]
    fn of(block: &[u8; 64]) -> Masks {
        let mut masks = Masks::default();
        for (i, part) in block.as_chunks::<16>().0.iter().enumerate() {
            let m = masks16(part);
            let at = |mask: u16| u64::from(mask) << (16 * i);
            masks.quote |= at(m.quote);
            masks.backslash |= at(m.backslash);
            masks.letter_n |= at(m.letter_n);
            masks.control |= at(m.control);
            masks.high |= at(m.high);
        }
        masks
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn of(block: &[u8; 64]) -> Masks {
        let mut masks = Masks::default();
        for (i, &b) in block.iter().enumerate() {
            let bit = 1u64 << i;
            let set = |mask: &mut u64, yes: bool| *mask |= if yes { bit } else { 0 };
            set(&mut masks.quote, b == b'"');
            set(&mut masks.backslash, b == b'\\');
            set(&mut masks.letter_n, b == b'n');
            set(&mut masks.control, b < 0x20 || b == 0x7f);
            set(&mut masks.high, b >= 0x80);
        }
        masks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift generator: the same cases on every run, no dependency.
    fn xorshift(seed: &mut u32) -> u32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        *seed
    }

    /// Which bytes a backslash escapes, the slow and obvious way.
    fn escaped_by_hand(bytes: &[u8]) -> Vec<bool> {
        let mut escaped = vec![false; bytes.len()];
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' && i + 1 < bytes.len() {
                escaped[i + 1] = true;
                i += 2;
            } else {
                i += 1;
            }
        }
        escaped
    }

    #[test]
    fn finds_escaped_bytes_across_blocks() {
        let mut seed = 0x1234_5678;
        for _ in 0..2_000 {
            // Runs of backslashes of every length, across block edges.
            let bytes: Vec<u8> = (0..256)
                .map(|_| match xorshift(&mut seed) % 4 {
                    0 => b'x',
                    _ => b'\\',
                })
                .collect();
            let expected = escaped_by_hand(&bytes);
            let mut carry = 0;
            for (b, block) in bytes.chunks_exact(64).enumerate() {
                let block: &[u8; 64] = block.try_into().unwrap();
                let escaped = escaped_bytes(Masks::of(block).backslash, &mut carry);
                for i in 0..64 {
                    assert_eq!(escaped >> i & 1 == 1, expected[64 * b + i], "{b} {i}");
                }
            }
        }
    }

    #[test]
    fn masks_match_a_byte_loop() {
        let mut seed = 0x2545_f491;
        for _ in 0..2_000 {
            let block: [u8; 64] = std::array::from_fn(|_| xorshift(&mut seed) as u8);
            let mut expected = Masks::default();
            for (i, &b) in block.iter().enumerate() {
                let bit = 1u64 << i;
                expected.quote |= if b == b'"' { bit } else { 0 };
                expected.backslash |= if b == b'\\' { bit } else { 0 };
                expected.letter_n |= if b == b'n' { bit } else { 0 };
                expected.control |= if b < 0x20 || b == 0x7f { bit } else { 0 };
                expected.high |= if b >= 0x80 { bit } else { 0 };
            }
            assert_eq!(Masks::of(&block), expected);
        }
    }

    #[test]
    fn plain_run_matches_a_byte_loop() {
        let alphabet = [b'a', b' ', b'"', b'\\', 0x01, 0x1f, 0x20, 0x7f, 0x80, 0xff];
        let mut seed = 0x2545_f491;
        for len in 0..100 {
            for _ in 0..200 {
                // Mostly plain bytes, so runs cross the 16-byte blocks and reach the tail.
                let bytes: Vec<u8> = (0..len)
                    .map(|_| match xorshift(&mut seed) % 40 {
                        n @ 0..10 => alphabet[n as usize],
                        n => b'a' + (n % 26) as u8,
                    })
                    .collect();
                assert_eq!(
                    plain_run(&bytes),
                    plain_run_bytes(&bytes, 0, false),
                    "{bytes:?}"
                );
            }
        }
    }

    #[test]
    fn takes_exactly_the_strings_serde_takes() {
        let pieces: [&[u8]; 24] = [
            b"plain text ",
            b"0123456789abcdef",
            br"\n",
            br#"\""#,
            br"\\",
            br"\/\b\f\r\t",
            br"\u00e9",
            br"\ud83d\ude00",
            br"\\\\\\\n",
            br"\\\",
            br"\ud800",
            br"\udc00x",
            br"\q",
            "é中😀".as_bytes(),
            br"\u12",
            b"\xff",
            b"\xc3",
            b"\x01",
            b"\x7f",
            b"\"",
            br"\u001b[2J",
            br"\u0085\u007f",
            "x\u{85}".as_bytes(),
            br"\r\n",
        ];
        let mut seed = 0x9e37_79b9;
        let (mut taken, mut refused) = (0, 0);
        for _ in 0..30_000 {
            let mut line = b"{\"k\":\"".to_vec();
            for _ in 0..xorshift(&mut seed) % 40 {
                // Mostly valid pieces, so that long valid strings are common.
                let n = xorshift(&mut seed) as usize % 100;
                line.extend_from_slice(pieces[if n < 24 { n } else { n % 9 }]);
            }
            line.extend_from_slice(br#""}"#);
            let at = 5;
            let mut serde = serde_json::Deserializer::from_slice(&line[at..]).into_iter::<String>();
            // serde's answer, less what string_at leaves to the general path: a raw C1 or DEL.
            let expected = serde
                .next()
                .and_then(Result::ok)
                .map(|s| (s, at + serde.byte_offset()))
                .filter(|(_, end)| {
                    let raw = &line[at + 1..end - 1];
                    !has_c1_control(raw) && !raw.contains(&0x7f)
                });
            let got = string_at(&line, at).map(|(raw, end)| {
                let mut text = Vec::new();
                let shown = super::super::rawjson::RawStr(raw)
                    .unescape_into_with(&mut text, |text| text.push(b'\n'));
                let text = String::from_utf8(text).unwrap();
                // Shown as it is exactly when it has no control character a terminal obeys.
                let obeyed =
                    |c: char| matches!(c, '\0'..='\x08' | '\x0b'..='\x1f' | '\u{7f}'..='\u{9f}');
                assert_eq!(shown, !text.chars().any(obeyed), "{text:?}");
                (text, end)
            });
            assert_eq!(got, expected, "{}", String::from_utf8_lossy(&line));
            if got.is_some() {
                taken += 1;
            } else {
                refused += 1;
            }
        }
        // Both answers are common, so both are tested.
        assert!(taken > 5_000 && refused > 5_000, "{taken} {refused}");
    }

    #[test]
    fn every_vector_width_finds_the_same_strings() {
        let levels = crate::simd::levels_here();
        assert!(levels.contains(&Level::Base));
        let pieces: [&[u8]; 10] = [
            b"plain text ",
            br"\n",
            br#"\""#,
            br"\\",
            br"\u00e9\ud83d\ude00",
            "é中".as_bytes(),
            b"\xff",
            b"\x01",
            b"\x7f",
            b"\"",
        ];
        let mut seed = 0x0bad_cafe;
        for _ in 0..20_000 {
            let mut line = b"\"".to_vec();
            for _ in 0..xorshift(&mut seed) % 60 {
                let n = xorshift(&mut seed) as usize % 40;
                line.extend_from_slice(pieces[if n < 10 { n } else { 0 }]);
            }
            line.extend_from_slice(br#""}"#);
            let expected = long_string(Level::Base, &line, 1);
            for &level in &levels {
                assert_eq!(long_string(level, &line, 1), expected, "{level:?} {line:?}");
            }
        }
    }

    #[test]
    fn a_string_that_does_not_end_is_refused() {
        for len in 0..200 {
            let mut line = vec![b'"'];
            line.extend(std::iter::repeat_n(b'a', len));
            assert_eq!(string_at(&line, 0), None);
            line.push(b'\\');
            line.push(b'"');
            assert_eq!(string_at(&line, 0), None);
            line.push(b'"');
            assert_eq!(string_at(&line, 0), Some((&line[1..len + 3], len + 4)));
        }
    }
}
