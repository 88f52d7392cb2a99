//! Durations in Go syntax (`500ms`, `30s`, `5m`, `1h30m`), as written in `pause.duration`.
//!
//! Validation uses [`parse_duration`] to refuse a bad duration with its field path; the
//! controller uses it to compute when a pause ends. [`format_duration`] writes a duration back
//! the way Go's `time.Duration.String` does, for status messages.

use std::num::NonZeroU128;
use std::time::Duration;

/// Longest duration [`parse_duration`] accepts: 30 days (`720h0m0s`). A pause longer than that
/// is almost certainly a typo; pause without a duration to wait for a person instead.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Why a string is not a valid duration. Every message names the input and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string is empty.
    #[error("duration is empty; use Go syntax such as 30s, 5m or 1h30m")]
    Empty,
    /// The string starts with `-`.
    #[error("{input:?} is negative; a duration must be zero or more")]
    Negative {
        /// The string as given.
        input: String,
    },
    /// A number has no unit after it (only a bare `0` may omit the unit).
    #[error("{input:?} has a number without a unit; use ns, us, ms, s, m or h, e.g. 30s")]
    MissingUnit {
        /// The string as given.
        input: String,
    },
    /// A unit is not one of Go's.
    #[error("{input:?} has an unknown unit {unit:?}; use ns, us, ms, s, m or h")]
    UnknownUnit {
        /// The string as given.
        input: String,
        /// The unit that was not recognised.
        unit: String,
    },
    /// The string is not a sequence of numbers with units.
    #[error("{input:?} is not a duration; use Go syntax such as 30s, 5m or 1h30m")]
    Malformed {
        /// The string as given.
        input: String,
    },
    /// The duration is longer than [`MAX_DURATION`] (or does not fit in any integer).
    #[error("{input:?} is longer than the maximum of {max}; use a shorter duration")]
    TooLong {
        /// The string as given.
        input: String,
        /// [`MAX_DURATION`] formatted with [`format_duration`].
        max: String,
    },
}

/// Nanoseconds per unit. A unit is everything between a number and the next number, matched
/// whole, so `ms` is never read as `m`.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 micro sign, as Go accepts
    ("μs", 1_000), // U+03BC Greek small letter mu, as Go accepts
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 60 * 60 * 1_000_000_000),
];

/// Parses a duration written in Go's `time.ParseDuration` syntax.
///
/// A duration is an optional `+` followed by one or more decimal numbers, each with an optional
/// fraction and a unit: `300ms`, `1.5h`, `2h45m30s`. Units are `ns`, `us` (or `µs`), `ms`, `s`,
/// `m` and `h`. As in Go, a bare `0` is valid and means zero; `0s` is the clearer spelling. A
/// zero pause ends at once.
///
/// # Errors
///
/// [`DurationError`] when the string is empty, negative, malformed, has a number without a unit
/// or an unknown unit, or is longer than [`MAX_DURATION`]. Fractions finer than a nanosecond are
/// truncated, as in Go.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    if input.is_empty() {
        return Err(DurationError::Empty);
    }
    let malformed = || DurationError::Malformed {
        input: input.to_owned(),
    };
    let too_long = || DurationError::TooLong {
        input: input.to_owned(),
        max: format_duration(MAX_DURATION),
    };
    let rest = match input.as_bytes()[0] {
        b'-' => {
            return Err(DurationError::Negative {
                input: input.to_owned(),
            });
        }
        b'+' => &input[1..],
        _ => input,
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(malformed());
    }

    let mut total: u128 = 0;
    let mut rest = rest;
    while !rest.is_empty() {
        // The number: digits, then optionally '.' and more digits; at least one digit overall.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_digits = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_digits = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_digits = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(malformed());
        }

        // The unit: everything up to the next number.
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() && rest.starts_with('.') {
            return Err(malformed());
        }
        if unit.is_empty() {
            return Err(DurationError::MissingUnit {
                input: input.to_owned(),
            });
        }
        let Some(&(_, nanos_per_unit)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                input: input.to_owned(),
                unit: unit.to_owned(),
            });
        };

        let whole: u128 = if int_digits.is_empty() {
            0
        } else {
            // More than 39 digits overflow u128; anything that large is over the bound anyway.
            int_digits.parse().map_err(|_| too_long())?
        };
        let mut nanos = whole.checked_mul(nanos_per_unit).ok_or_else(too_long)?;
        // The fraction, truncated to whole nanoseconds: 18 digits are plenty for any unit
        // up to an hour (3.6e12 ns), and keep the arithmetic inside u128.
        let frac_digits = &frac_digits[..frac_digits.len().min(18)];
        if !frac_digits.is_empty() {
            // Padded on the right to 18 digits, the fraction counts units of 1e-18.
            let numerator: u128 = format!("{frac_digits:0<18}")
                .parse()
                .map_err(|_| malformed())?;
            // Below 1e18 × 3.6e12: never fails, checked so that no input can make it wrap.
            let scaled = numerator.checked_mul(nanos_per_unit).ok_or_else(too_long)?;
            nanos = nanos
                .checked_add(scaled / 1_000_000_000_000_000_000)
                .ok_or_else(too_long)?;
        }
        total = total.checked_add(nanos).ok_or_else(too_long)?;
        if total > MAX_DURATION.as_nanos() {
            return Err(too_long());
        }
    }

    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| too_long())?;
    let subsec = u32::try_from(total % 1_000_000_000).map_err(|_| too_long())?;
    Ok(Duration::new(secs, subsec))
}

/// Formats a duration the way Go's `time.Duration.String` does, so that what KULTA prints reads
/// like what users write.
///
/// Durations of a second or more are written with every unit from the largest present down to
/// seconds, zeros included: `1h30m0s`, `5m0s`, `1m30.5s`. Shorter durations use one unit with a
/// fraction: `500ms`, `1.5µs`, `250ns`. Zero is `0s`. The output parses back with
/// [`parse_duration`] to the same value (when within [`MAX_DURATION`]).
pub fn format_duration(duration: Duration) -> String {
    let total = duration.as_nanos();
    if total == 0 {
        return "0s".to_owned();
    }
    if total < 1_000_000_000 {
        let (divisor, unit) = if total < 1_000 {
            (NANOS_PER_NANO, "ns")
        } else if total < 1_000_000 {
            (NANOS_PER_MICRO, "µs")
        } else {
            (NANOS_PER_MILLI, "ms")
        };
        return format!("{}{unit}", with_fraction(total, divisor));
    }
    let hours = total / 3_600_000_000_000;
    let minutes = (total / 60_000_000_000) % 60;
    let seconds_nanos = total % 60_000_000_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&with_fraction(seconds_nanos, NANOS_PER_SECOND));
    out.push('s');
    out
}

/// The divisors of [`format_duration`]'s units, non-zero by type so that dividing by them
/// cannot panic.
const NANOS_PER_NANO: NonZeroU128 = NonZeroU128::MIN;
const NANOS_PER_MICRO: NonZeroU128 = non_zero(1_000);
const NANOS_PER_MILLI: NonZeroU128 = non_zero(1_000_000);
const NANOS_PER_SECOND: NonZeroU128 = non_zero(1_000_000_000);

/// `n` as a [`NonZeroU128`], for the constants above (1 if `n` is zero).
const fn non_zero(n: u128) -> NonZeroU128 {
    match NonZeroU128::new(n) {
        Some(n) => n,
        None => NonZeroU128::MIN,
    }
}

/// `value / divisor` as a decimal with trailing zeros of the fraction removed.
fn with_fraction(value: u128, divisor: NonZeroU128) -> String {
    let whole = value / divisor;
    let fraction = value % divisor;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = divisor.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_go_syntax() {
        let table: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("+5s", Duration::from_secs(5)),
            ("500ms", ms(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h30m", Duration::from_secs(5400)),
            ("1.5h", Duration::from_secs(5400)),
            ("2h45m30s", Duration::from_secs(2 * 3600 + 45 * 60 + 30)),
            (".5s", ms(500)),
            ("1.s", Duration::from_secs(1)),
            ("1.25s", ms(1250)),
            ("10ns", Duration::from_nanos(10)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("10μs", Duration::from_micros(10)),
            ("1h1m1s1ms1us1ns", Duration::new(3661, 1_001_001)),
            ("1.000000001s", Duration::new(1, 1)),
            ("1.0000000019s", Duration::new(1, 1)),
            ("720h", MAX_DURATION),
            ("719h60m", MAX_DURATION),
        ];
        for (input, want) in table {
            assert_eq!(parse_duration(input), Ok(*want), "input {input:?}");
        }
    }

    #[test]
    fn rejects_bad_durations_with_clear_messages() {
        let table: &[(&str, &str)] = &[
            (
                "",
                "duration is empty; use Go syntax such as 30s, 5m or 1h30m",
            ),
            (
                "-5s",
                "\"-5s\" is negative; a duration must be zero or more",
            ),
            (
                "5",
                "\"5\" has a number without a unit; use ns, us, ms, s, m or h, e.g. 30s",
            ),
            (
                "1h5",
                "\"1h5\" has a number without a unit; use ns, us, ms, s, m or h, e.g. 30s",
            ),
            (
                "5x",
                "\"5x\" has an unknown unit \"x\"; use ns, us, ms, s, m or h",
            ),
            (
                "5 m",
                "\"5 m\" has an unknown unit \" m\"; use ns, us, ms, s, m or h",
            ),
            (
                "5min",
                "\"5min\" has an unknown unit \"min\"; use ns, us, ms, s, m or h",
            ),
            (
                "s",
                "\"s\" is not a duration; use Go syntax such as 30s, 5m or 1h30m",
            ),
            (
                ".s",
                "\".s\" is not a duration; use Go syntax such as 30s, 5m or 1h30m",
            ),
            (
                "+",
                "\"+\" is not a duration; use Go syntax such as 30s, 5m or 1h30m",
            ),
            (
                "1..5s",
                "\"1..5s\" is not a duration; use Go syntax such as 30s, 5m or 1h30m",
            ),
            (
                "721h",
                "\"721h\" is longer than the maximum of 720h0m0s; use a shorter duration",
            ),
            (
                "720h0.000000001s",
                "\"720h0.000000001s\" is longer than the maximum of 720h0m0s; use a shorter duration",
            ),
            (
                "99999999999999999999999999999999999999999h",
                "\"99999999999999999999999999999999999999999h\" is longer than the maximum of 720h0m0s; use a shorter duration",
            ),
            (
                "9223372036854775808ns",
                "\"9223372036854775808ns\" is longer than the maximum of 720h0m0s; use a shorter duration",
            ),
        ];
        for (input, want) in table {
            let err = parse_duration(input).expect_err(input);
            assert_eq!(err.to_string(), *want, "input {input:?}");
        }
    }

    #[test]
    fn formats_like_go() {
        let table: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (ms(500), "500ms"),
            (Duration::from_micros(1_250), "1.25ms"),
            (Duration::from_secs(1), "1s"),
            (ms(1_500), "1.5s"),
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_secs(5400), "1h30m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::new(90, 500_000_000), "1m30.5s"),
            (MAX_DURATION, "720h0m0s"),
        ];
        for (duration, want) in table {
            assert_eq!(format_duration(*duration), *want, "{duration:?}");
        }
    }

    #[test]
    fn formatted_durations_parse_back() {
        for nanos in [
            1u64,
            999,
            1_500,
            2_000_000,
            1_000_000_000,
            5_400_000_000_123,
        ] {
            let duration = Duration::from_nanos(nanos);
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
    }
}
