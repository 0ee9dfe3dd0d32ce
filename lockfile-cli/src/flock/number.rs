//! Numbers as util-linux reads them: `strtold(3)` for `-w` (so `5`, `0.3`,
//! `1e1`, `0x10` and ` 5` are seconds, and `5 ` is not), `strtol(3)` in base
//! 10 for `-E` and descriptor numbers. The whole text must be the number.

/// What `strtold(3)` makes of the whole of `text`, or `None` where flock(1)
/// says "invalid timeout value" (nothing, trailing text, out of range).
pub(super) fn parse_c_float(text: &str) -> Option<f64> {
    let text = text.trim_start_matches(is_c_space);
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = if let Some(hex) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        parse_hex_float(hex)?
    } else {
        parse_decimal_float(unsigned)?
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn parse_decimal_float(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity") {
        return Some(f64::INFINITY);
    }
    if lower == "nan" || (lower.starts_with("nan(") && lower.ends_with(')')) {
        return Some(f64::NAN);
    }
    // Rust's grammar is C's for these characters, signs aside (handled above).
    let valid = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && text
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.');
    if !valid {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    // strtold's range error (ERANGE) on underflow: digits that are not all
    // zeros read as zero.
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    if value == 0.0 && mantissa.bytes().any(|b| matches!(b, b'1'..=b'9')) {
        return None;
    }
    Some(value)
}

/// `hhh[.hhh][p[+-]ddd]`, the part after `0x`.
fn parse_hex_float(text: &str) -> Option<f64> {
    let (mantissa, exponent) = match text.find(['p', 'P']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0.0_f64;
    for digit in whole.chars() {
        value = value * 16.0 + f64::from(digit.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for digit in fraction.chars() {
        value += f64::from(digit.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    if let Some(exponent) = exponent {
        let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let power: i32 = exponent.parse().unwrap_or(if exponent.starts_with('-') {
            i32::MIN
        } else {
            i32::MAX
        });
        value *= 2.0_f64.powi(power);
    }
    Some(value)
}

/// What `strtol(3)` in base 10 makes of the whole of `text`, if it fits an
/// `i32` (util-linux's `strtos32_or_err`).
pub(super) fn parse_c_int(text: &str) -> Option<i32> {
    let text = text.trim_start_matches(is_c_space);
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rust's i32 parser takes the same optional sign and digits.
    text.parse().ok()
}

fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_timeouts_as_strtold_does() {
        for (text, value) in [
            ("5", 5.0),
            ("0.3", 0.3),
            (" 5", 5.0),
            ("+2", 2.0),
            ("1e1", 10.0),
            ("0x10", 16.0),
            ("0x.8", 0.5),
            ("0x1p3", 8.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("-1", -1.0),
            ("1e400", f64::INFINITY),
        ] {
            assert_eq!(parse_c_float(text), Some(value), "{text}");
        }
        assert!(parse_c_float("inf").is_some_and(f64::is_infinite));
        assert!(parse_c_float("NaN").is_some_and(f64::is_nan));
        for text in [
            "",
            " ",
            "5 ",
            "abc",
            "1n",
            "0x",
            "1e",
            "5s",
            "1e-999999",
            "--1",
            "0xg",
        ] {
            assert_eq!(parse_c_float(text), None, "{text:?}");
        }
    }

    #[test]
    fn reads_integers_as_strtol_does() {
        assert_eq!(parse_c_int(" 7"), Some(7));
        assert_eq!(parse_c_int("+7"), Some(7));
        assert_eq!(parse_c_int("-1"), Some(-1));
        for text in ["", "0x7", "7 ", "x", "99999999999", "-"] {
            assert_eq!(parse_c_int(text), None, "{text:?}");
        }
    }
}
