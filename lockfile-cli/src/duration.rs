//! `run --timeout` values: bare seconds as flock(1) and timeout(1) take them
//! (`5`, `0.3`), or a duration with units (`500ms`, `1m 30s`).

use std::time::Duration;

/// Reads a timeout; the error is the whole message clap shows.
pub(crate) fn parse_timeout(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if let Some(seconds) = parse_seconds(trimmed) {
        return seconds;
    }
    humantime::parse_duration(trimmed).map_err(|_| {
        format!(
            "'{text}' is not a duration: give seconds (5, 0.3) or a number with a unit \
             (500ms, 2s, 1m 30s, 1h)"
        )
    })
}

/// Decimal seconds, exactly (`0.3` is 300 ms, not 299.999...): `None` if
/// `text` is not a plain number, so it is tried as a duration with units.
fn parse_seconds(text: &str) -> Option<Result<Duration, String>> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    if unsigned.len() != text.len() {
        return Some(Err(format!("'{text}': a timeout cannot be negative")));
    }
    let seconds = match whole {
        "" => 0,
        whole => match whole.parse::<u64>() {
            Ok(seconds) => seconds,
            Err(_) => return Some(Err(format!("'{text}': too many seconds"))),
        },
    };
    // Nanoseconds from the first nine digits; any further ones are below a nanosecond.
    let nanos = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0_u32, |nanos, digit| nanos * 10 + u32::from(digit - b'0'));
    Some(Ok(Duration::new(seconds, nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_bare_seconds_and_units() {
        for (text, millis) in [
            ("5", 5000),
            ("0.3", 300),
            (".5", 500),
            ("2.", 2000),
            ("0", 0),
            ("500ms", 500),
            ("1m 30s", 90_000),
            ("1.5s", 1500),
            (" 5 ", 5000),
        ] {
            assert_eq!(
                parse_timeout(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
        assert_eq!(parse_timeout("0.000000001"), Ok(Duration::from_nanos(1)));
    }

    #[test]
    fn says_what_is_wrong_in_words() {
        for text in ["abc", "5 parsecs", "", ".", "1..2", "5x"] {
            let err = parse_timeout(text).unwrap_err();
            assert!(
                err.contains("is not a duration: give seconds"),
                "{text}: {err}"
            );
        }
        assert_eq!(
            parse_timeout("-1"),
            Err("'-1': a timeout cannot be negative".to_owned())
        );
        assert!(
            parse_timeout("99999999999999999999")
                .unwrap_err()
                .contains("too many")
        );
    }
}
