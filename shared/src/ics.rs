//! "My tasks" as an iCalendar file (RFC 5545), built in the browser from decrypted
//! records: calendar apps (Outlook, Google, Apple, 钉钉, 企业微信) import it. Times are
//! written in UTC; text is escaped and lines folded as the RFC says.

/// One event: a task falling due, or a scheduled meeting or visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Stable across downloads (the record id), so a re-import updates, not duplicates.
    pub uid: String,
    pub title: String,
    pub description: String,
    pub start_ms: i64,
    pub minutes: u32,
}

/// `19700101T000000Z`-style UTC time.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// TEXT escaping: backslash, semicolon, comma, newline.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A content line, folded at 75 octets (never inside a UTF-8 character), CRLF-ended.
fn line(out: &mut String, text: &str) {
    let mut width = 0;
    for c in text.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// The calendar file: one VEVENT per event, stamped `now_ms`.
pub fn calendar(name: &str, events: &[Event], now_ms: i64) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//Quietdesk//Quietdesk CRM//EN");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, &format!("X-WR-CALNAME:{}", escape(name)));
    for e in events {
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}@quietdesk", escape(&e.uid)));
        line(&mut out, &format!("DTSTAMP:{}", utc(now_ms)));
        line(&mut out, &format!("DTSTART:{}", utc(e.start_ms)));
        line(&mut out, &format!("DTEND:{}", utc(e.start_ms + i64::from(e.minutes) * 60_000)));
        line(&mut out, &format!("SUMMARY:{}", escape(&e.title)));
        if !e.description.is_empty() {
            line(&mut out, &format!("DESCRIPTION:{}", escape(&e.description)));
        }
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_frozen_escaped_and_folded() {
        let events = [Event {
            uid: "0f3a".into(),
            title: "Call 张伟, re: quote; bring \\ docs".into(),
            description: "Canary Steel Works\nsecond line ".repeat(3),
            start_ms: 1_795_446_960_000,
            minutes: 30,
        }];
        let ics = calendar("My tasks", &events, 0);
        let expected = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Quietdesk//Quietdesk CRM//EN\r\n\
            CALSCALE:GREGORIAN\r\nX-WR-CALNAME:My tasks\r\nBEGIN:VEVENT\r\nUID:0f3a@quietdesk\r\n\
            DTSTAMP:19700101T000000Z\r\nDTSTART:20261123T151600Z\r\nDTEND:20261123T154600Z\r\n\
            SUMMARY:Call 张伟\\, re: quote\\; bring \\\\ docs\r\n\
            DESCRIPTION:Canary Steel Works\\nsecond line Canary Steel Works\\nsecond line\r\n  \
            Canary Steel Works\\nsecond line \r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert_eq!(ics, expected);
        for l in ics.split("\r\n") {
            assert!(l.len() <= 75, "{l:?}");
        }
    }

    #[test]
    fn folding_never_splits_a_character() {
        let mut out = String::new();
        line(&mut out, &"张".repeat(40));
        assert!(out.split("\r\n").all(|l| l.len() <= 75));
        assert_eq!(out.replace("\r\n ", "").trim_end(), "张".repeat(40));
    }

    #[test]
    fn dates_are_utc_and_right_around_leap_days() {
        assert_eq!(utc(951_782_400_000), "20000229T000000Z");
        assert_eq!(utc(-1000), "19691231T235959Z");
    }
}
