//! The filter's rules and counters, as `filter list` and `status` show
//! them.

use crate::app::shared::report::Report;
use crate::app::shared::stats::thousands;
use crate::xdp::filter::{Listed, Misc, Verdict};
use serde::Serialize;
use std::fmt;

/// One rule and its counters, as `filter list` and `status` show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleReport {
    /// The id `del` takes.
    pub id: u32,
    /// The rule as written.
    pub rule: String,
    /// Frames it decided.
    pub hits: u64,
    /// Bytes of those frames.
    pub bytes: u64,
}

impl From<&Listed> for RuleReport {
    fn from(l: &Listed) -> RuleReport {
        RuleReport {
            id: l.id,
            rule: l.rule.to_string(),
            hits: l.hits,
            bytes: l.bytes,
        }
    }
}

impl fmt::Display for RuleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{:<4} {:<40} {:>12} hits {:>14} bytes",
            self.id,
            self.rule,
            thousands(self.hits),
            thousands(self.bytes)
        )
    }
}

/// The filter's state: default policy, rules with counters, and the
/// frames counted outside the rules (`filter list`; flattened into a
/// `status` row).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FilterReport {
    /// `allow` or `deny`.
    pub default: &'static str,
    /// The rules by id.
    pub rules: Vec<RuleReport>,
    /// Frames neither IP nor ARP that no EtherType rule decided.
    pub non_ip: u64,
    /// Frames too short for their headers.
    pub malformed: u64,
    /// ARP frames passed with no `arp` rule.
    pub arp_passed: u64,
    /// Neighbour discovery passed with no `nd` rule.
    pub nd_passed: u64,
    /// Frames the default policy passed (those of the kinds above
    /// included).
    pub default_passed: u64,
    /// Frames the default policy dropped (those of the kinds above
    /// included).
    pub default_dropped: u64,
}

impl FilterReport {
    /// The report of these rules and counts.
    pub fn new(default: Verdict, list: &[Listed], m: &Misc) -> FilterReport {
        FilterReport {
            default: default.name(),
            rules: list.iter().map(RuleReport::from).collect(),
            non_ip: m.not_ip,
            malformed: m.truncated,
            arp_passed: m.arp,
            nd_passed: m.nd,
            default_passed: m.default_passed,
            default_dropped: m.default_dropped,
        }
    }

    /// The counts outside the rules, named as in `status` and the JSON.
    pub fn counts(&self) -> String {
        format!(
            "non-IP {}, malformed {}, ARP passed {}, ND passed {}, default passed {}, default dropped {}",
            thousands(self.non_ip),
            thousands(self.malformed),
            thousands(self.arp_passed),
            thousands(self.nd_passed),
            thousands(self.default_passed),
            thousands(self.default_dropped)
        )
    }
}

impl fmt::Display for FilterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "default policy: {}; {}", self.default, self.counts())?;
        if self.rules.is_empty() {
            write!(f, "\nno rules")?;
        }
        for r in &self.rules {
            write!(f, "\n{r}")?;
        }
        Ok(())
    }
}

impl Report for FilterReport {}

#[cfg(test)]
mod report_tests {
    use super::*;
    use crate::xdp::filter::Rule;

    #[test]
    fn filter_report_text_and_json_carry_the_same_values() {
        let w = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let list = [
            Listed {
                id: 3,
                rule: Rule::parse(Verdict::Deny, &w(&["src", "203.0.113.0/24"])).unwrap(),
                hits: 1001,
                bytes: 1002,
            },
            Listed {
                id: 7,
                rule: Rule::parse(Verdict::Allow, &w(&["tcp", "dst", "22"])).unwrap(),
                hits: 2001,
                bytes: 2002,
            },
        ];
        let m = Misc {
            not_ip: 11,
            truncated: 12,
            arp: 13,
            nd: 14,
            default_passed: 15,
            default_dropped: 16,
        };
        let r = FilterReport::new(Verdict::Deny, &list, &m);
        crate::app::shared::report::assert_text_shows_json(&r, &[]);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["rules"][0]["rule"], "deny src 203.0.113.0/24");
        assert_eq!(v["malformed"], 12);
        assert_eq!(v["default_dropped"], 16);
        assert_eq!(v["default"], "deny");
        // The same words as `status` (ids without separators).
        let t = r.to_string();
        assert!(t.contains("non-IP 11, malformed 12, ARP passed 13, ND passed 14, default passed 15, default dropped 16"), "{t}");
    }
}
