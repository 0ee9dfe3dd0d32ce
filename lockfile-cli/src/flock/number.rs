//! Numbers as util-linux reads them: `strtold(3)` for `-w` (so `5`, `0.3`,
//! `1e1`, `0x10` and ` 5` are seconds, and `5 ` is not), `strtol(3)` in base
//! 10 for `-E` and descriptor numbers. The whole text must be the number.

/// Why a text is not a number util-linux would take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotANumber {
    /// Nothing, or text that is no number.
    Invalid,
    /// A number out of the type's range (`ERANGE`): util-linux adds
    /// "Numerical result out of range" to its message.
    OutOfRange,
}

/// `long double`'s decimal exponent range on x86 (about 1.19e4932 at the
/// top, 3.6e-4951 at the bottom, subnormals included): beyond it strtold(3)
/// says `ERANGE`. `f64` holds less; within these bounds a value too large
/// for it is infinite (a timer refuses it) and one too small is zero (no
/// wait), as the `long double` would be once cast to seconds and microseconds.
const MAX_EXPONENT: i64 = 4932;
const MIN_EXPONENT: i64 = -4951;

/// What `strtold(3)` makes of the whole of `text`, or why flock(1) says
/// "invalid timeout value" (nothing, trailing text, out of range).
pub(super) fn parse_c_float(text: &str) -> Result<f64, NotANumber> {
    parse_c_float_text(text).ok_or(NotANumber::Invalid)?
}

fn parse_c_float_text(text: &str) -> Option<Result<f64, NotANumber>> {
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
        Ok(parse_hex_float(hex)?)
    } else {
        parse_decimal_float(unsigned)?
    };
    Some(magnitude.map(|magnitude| if negative { -magnitude } else { magnitude }))
}

fn parse_decimal_float(text: &str) -> Option<Result<f64, NotANumber>> {
    let lower = text.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity") {
        return Some(Ok(f64::INFINITY));
    }
    if lower == "nan" || (lower.starts_with("nan(") && lower.ends_with(')')) {
        return Some(Ok(f64::NAN));
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
    match decimal_exponent(text) {
        Some(exponent) if !(MIN_EXPONENT..=MAX_EXPONENT).contains(&exponent) => {
            Some(Err(NotANumber::OutOfRange))
        }
        _ => Some(Ok(value)),
    }
}

/// The power of ten of the first significant digit of a decimal number
/// (`-1` for `0.5`, `2` for `123`, `5000` for `1e5000`); `None` for zero.
fn decimal_exponent(text: &str) -> Option<i64> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, "0"),
    };
    // Beyond i64, the exponent is out of every range anyway.
    let exponent: i64 = exponent.parse().unwrap_or(if exponent.starts_with('-') {
        i64::MIN / 2
    } else {
        i64::MAX / 2
    });
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let whole = whole.trim_start_matches('0');
    let position = if whole.is_empty() {
        let zeros = fraction.len() - fraction.trim_start_matches('0').len();
        if zeros == fraction.len() {
            return None;
        }
        -1 - i64::try_from(zeros).unwrap_or(i64::MAX / 2)
    } else {
        i64::try_from(whole.len()).unwrap_or(i64::MAX / 2) - 1
    };
    Some(exponent.saturating_add(position))
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
pub(super) fn parse_c_int(text: &str) -> Result<i32, NotANumber> {
    let text = text.trim_start_matches(is_c_space);
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NotANumber::Invalid);
    }
    // Rust's i32 parser takes the same optional sign and digits; with those,
    // it fails only on overflow.
    text.parse().map_err(|_| NotANumber::OutOfRange)
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
            assert_eq!(parse_c_float(text), Ok(value), "{text}");
        }
        assert!(parse_c_float("inf").is_ok_and(f64::is_infinite));
        assert!(parse_c_float("NaN").is_ok_and(f64::is_nan));
        // Within long double's range, though not f64's.
        assert_eq!(parse_c_float("1e-400"), Ok(0.0));
        assert_eq!(parse_c_float("0.000e-9999"), Ok(0.0));
        for text in ["1e5000", "1e-5000", "-1e5000", "1e99999999999999999999"] {
            assert_eq!(parse_c_float(text), Err(NotANumber::OutOfRange), "{text}");
        }
        for text in ["", " ", "5 ", "abc", "1n", "0x", "1e", "5s", "--1", "0xg"] {
            assert_eq!(parse_c_float(text), Err(NotANumber::Invalid), "{text:?}");
        }
    }

    #[test]
    fn reads_integers_as_strtol_does() {
        assert_eq!(parse_c_int(" 7"), Ok(7));
        assert_eq!(parse_c_int("+7"), Ok(7));
        assert_eq!(parse_c_int("-1"), Ok(-1));
        for text in ["", "0x7", "7 ", "x", "-"] {
            assert_eq!(parse_c_int(text), Err(NotANumber::Invalid), "{text:?}");
        }
        for text in ["99999999999", "-2147483649"] {
            assert_eq!(parse_c_int(text), Err(NotANumber::OutOfRange), "{text:?}");
        }
    }
}
