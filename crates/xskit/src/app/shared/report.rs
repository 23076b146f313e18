//! Reports: each is one struct, printed as text by its `Display` and as
//! one line of JSON by its `Serialize`, so both always carry the values of
//! the same struct.

use serde::Serialize;
use std::fmt::Display;
use std::io::{self, Write};

/// A report: text (`Display`, without a final newline) or JSON
/// (`Serialize`, one line).
pub trait Report: Serialize + Display {
    /// Writes the report as text or as one line of JSON.
    fn print(&self, out: &mut dyn Write, json: bool) -> io::Result<()> {
        if json {
            let text = serde_json::to_string(self).map_err(io::Error::other)?;
            writeln!(out, "{text}")
        } else {
            writeln!(out, "{self}")
        }
    }
}

/// Checks that `r`'s text shows every value its JSON carries, but for the
/// (dotted) JSON paths in `json_only` (e.g. `summary`, a marker). Numbers
/// count as shown in any of the forms the reports use (plain, with
/// thousands separators, rounded or truncated, with up to three decimals);
/// `null` as "unknown", "unlimited", "-", "?" or "null"; booleans are not checked (text says
/// them in words). Tests give each value a distinct number.
#[cfg(test)]
pub(crate) fn assert_text_shows_json<R: Report>(r: &R, json_only: &[&str]) {
    use crate::app::shared::stats::thousands;
    use serde_json::Value;
    let text = r.to_string();
    let json = serde_json::to_value(r).unwrap();
    fn walk(v: &Value, path: String, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(x, p, out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let p = if path.is_empty() {
                        i.to_string()
                    } else {
                        format!("{path}.{i}")
                    };
                    walk(x, p, out);
                }
            }
            _ => out.push((path, v.clone())),
        }
    }
    let mut leaves = Vec::new();
    walk(&json, String::new(), &mut leaves);
    assert!(!leaves.is_empty(), "no values in {json}");
    for (path, v) in leaves {
        // `queues.3.rx_pps` is skipped by `queues.rx_pps` too.
        let generic: String = path
            .split('.')
            .filter(|p| p.parse::<usize>().is_err())
            .collect::<Vec<_>>()
            .join(".");
        if json_only.contains(&path.as_str()) || json_only.contains(&generic.as_str()) {
            continue;
        }
        let forms: Vec<String> = match &v {
            Value::Number(n) => {
                let x = n.as_f64().unwrap();
                let mut f = vec![n.to_string()];
                if x >= 0.0 {
                    f.push(thousands(x.round() as u64));
                    f.push(thousands(x as u64));
                    f.push((x.round() as u64).to_string());
                }
                for d in 1..=3 {
                    f.push(format!("{x:.d$}"));
                }
                f
            }
            Value::String(s) => vec![s.clone()],
            Value::Null => ["unknown", "unlimited", "-", "?", "null"]
                .map(String::from)
                .to_vec(),
            _ => continue,
        };
        assert!(
            forms.iter().any(|f| text.contains(f.as_str())),
            "{path} = {v} is in the JSON but not in the text:\n{text}\n{json}"
        );
    }
}
