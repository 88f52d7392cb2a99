//! Small pure helpers shared by the views: kubectl-style tables and ages, and the conversion of
//! Kubernetes timestamps (k8s-openapi's `jiff`) to chrono, which KULTA uses for its own times.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};

/// Lays out rows under headers the way `kubectl get` does: columns left-aligned, separated by
/// three spaces, no trailing spaces. Every line ends with `\n`.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (index, cell) in row.iter().take(columns).enumerate() {
            widths[index] = widths[index].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (index, cell) in row.iter().take(columns).enumerate() {
            if index > 0 {
                line.push_str("   ");
            }
            line.push_str(cell);
            let pad = widths[index].saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Indents every line of `text` by `prefix`.
pub fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}\n"))
        .collect()
}

/// The age of something that happened at `then`, as `kubectl get` prints it (`45s`, `5m30s`,
/// `3h`, `2d5h`, `400d`, `3y`). A time slightly in the future (clock skew) is `0s`.
pub fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    human_duration(now.signed_duration_since(then).num_seconds())
}

/// `kubectl`'s `HumanDuration` on whole seconds.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    let years = days / 365;
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        match seconds % 60 {
            0 => format!("{minutes}m"),
            rest => format!("{minutes}m{rest}s"),
        }
    } else if minutes < 180 {
        format!("{minutes}m")
    } else if hours < 8 {
        match minutes % 60 {
            0 => format!("{hours}h"),
            rest => format!("{hours}h{rest}m"),
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        match hours % 24 {
            0 => format!("{days}d"),
            rest => format!("{days}d{rest}h"),
        }
    } else if hours < 24 * 365 * 2 {
        format!("{days}d")
    } else if hours < 24 * 365 * 8 {
        match days % 365 {
            0 => format!("{years}y"),
            rest => format!("{years}y{rest}d"),
        }
    } else {
        format!("{years}y")
    }
}

/// A remaining wait, to the second: `4m12s`, `1h0m5s`, `0s`.
pub fn remaining(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (hours, minutes, rest) = (seconds / 3600, (seconds / 60) % 60, seconds % 60);
    match (hours, minutes) {
        (0, 0) => format!("{rest}s"),
        (0, _) => format!("{minutes}m{rest}s"),
        _ => format!("{hours}h{minutes}m{rest}s"),
    }
}

/// A Kubernetes `Time` as chrono.
pub fn time(time: &Time) -> Option<DateTime<Utc>> {
    timestamp(time.0)
}

/// A Kubernetes `MicroTime` as chrono.
pub fn micro_time(time: &MicroTime) -> Option<DateTime<Utc>> {
    timestamp(time.0)
}

fn timestamp(timestamp: k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(timestamp.subsec_nanosecond()).ok()?;
    DateTime::from_timestamp(timestamp.as_second(), nanos)
}

/// `text` cut to `max` characters, ending in `...` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(3)).collect();
    out.push_str("...");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        for (seconds, expected) in [
            (0, "0s"),
            (59, "59s"),
            (119, "119s"),
            (120, "2m"),
            (330, "5m30s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600 + 20 * 60, "3h20m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (2 * 86400 + 5 * 3600, "2d5h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400, "3y"),
        ] {
            assert_eq!(human_duration(seconds), expected, "{seconds}s");
        }
        assert_eq!(human_duration(-1), "0s");
        assert_eq!(human_duration(-5), "<invalid>");
    }

    #[test]
    fn tables_align_without_trailing_spaces() {
        let out = table(
            &["NAME", "PHASE", "AGE"],
            &[
                vec!["a".into(), "Healthy".into(), "5m".into()],
                vec!["longer-name".into(), "".into(), "1h".into()],
            ],
        );
        assert_eq!(
            out,
            "NAME          PHASE     AGE\n\
             a             Healthy   5m\n\
             longer-name             1h\n"
        );
    }

    #[test]
    fn remaining_is_exact_to_the_second() {
        assert_eq!(remaining(0), "0s");
        assert_eq!(remaining(-3), "0s");
        assert_eq!(remaining(252), "4m12s");
        assert_eq!(remaining(3605), "1h0m5s");
    }

    #[test]
    fn times_convert_from_jiff() {
        let parsed: k8s_openapi::jiff::Timestamp = "2026-11-26T10:00:00.5Z".parse().unwrap();
        let converted = time(&Time(parsed)).unwrap();
        assert_eq!(converted.to_rfc3339(), "2026-11-26T10:00:00.500+00:00");
    }
}
