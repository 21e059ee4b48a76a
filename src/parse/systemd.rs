//! `systemctl list-units` of systemd 219 (RHEL/CentOS 7, `src/systemctl/systemctl.c`,
//! `output_units_list`). The header is `UNIT LOAD ACTIVE SUB DESCRIPTION`, each column padded
//! to its longest cell, and a JOB column appears between SUB and DESCRIPTION only when some
//! listed unit has a pending job, its cell blank for the others, so rows are cut at the
//! header's column offsets, not split on spaces. A leading column holds `●` for failed or
//! not-found units (two spaces in the header). After the rows comes a blank line and the
//! legend (`LOAD   = …`, `N loaded units listed.`); with no unit at all there is no header.

/// One row of `systemctl list-units`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitRow {
    pub unit: String,
    pub load: String,
    pub active: String,
    pub sub: String,
    /// The pending job (`start`, `stop`, ...), empty when none.
    pub job: String,
    pub description: String,
}

pub fn list_units(text: &str) -> Vec<UnitRow> {
    let mut lines = text.lines();
    let Some(header) = lines.by_ref().find(|l| l.trim_start().starts_with("UNIT ")) else {
        return Vec::new();
    };
    let header: Vec<char> = header.chars().collect();
    let offset = |word: &str| -> Option<usize> {
        let w: Vec<char> = word.chars().collect();
        (0..header.len().saturating_sub(w.len() - 1)).find(|&i| {
            header[i..i + w.len()] == w[..]
                && (i == 0 || header[i - 1] == ' ')
                && header.get(i + w.len()).is_none_or(|c| *c == ' ')
        })
    };
    let columns = ["UNIT", "LOAD", "ACTIVE", "SUB", "JOB", "DESCRIPTION"];
    let starts: Vec<Option<usize>> = columns.iter().map(|c| offset(c)).collect();
    let cell = |row: &[char], i: usize| -> String {
        let Some(from) = starts[i] else {
            return String::new();
        };
        let to = starts[i + 1..]
            .iter()
            .flatten()
            .next()
            .copied()
            .unwrap_or(row.len());
        let from = from.min(row.len());
        row[from..to.clamp(from, row.len())]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    };
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|line| {
            let row: Vec<char> = line.chars().collect();
            // The circle column sits before UNIT; only the unit name counts.
            let unit = cell(&row, 0)
                .trim_start_matches(['●', '*'])
                .trim()
                .to_string();
            UnitRow {
                unit,
                load: cell(&row, 1),
                active: cell(&row, 2),
                sub: cell(&row, 3),
                job: cell(&row, 4),
                description: cell(&row, 5),
            }
        })
        .filter(|r| !r.unit.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rhel7_rows_with_a_job_column() {
        let text = "  UNIT                             LOAD   ACTIVE   SUB     JOB   DESCRIPTION\n  vstorage-csd.c.1025.service      loaded active   running       Virtuozzo Storage CS 1025\n  vstorage-csd.c.1026.service      loaded inactive dead    start Virtuozzo Storage CS 1026\n● vstorage-csd.c.1027.service      loaded failed   failed        Virtuozzo Storage CS 1027\n  vstorage-csd.target              loaded active   active        Virtuozzo Storage chunk servers\n\nLOAD   = Reflects whether the unit definition was properly loaded.\nACTIVE = The high-level unit activation state, i.e. generalization of SUB.\nSUB    = The low-level unit activation state, values depend on unit type.\nJOB    = Pending job for the unit.\n\n4 loaded units listed.\nTo show all installed unit files use 'systemctl list-unit-files'.\n";
        let rows = list_units(text);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].job, "");
        assert_eq!(rows[0].description, "Virtuozzo Storage CS 1025");
        assert_eq!(
            (
                rows[1].active.as_str(),
                rows[1].sub.as_str(),
                rows[1].job.as_str()
            ),
            ("inactive", "dead", "start")
        );
        assert_eq!(rows[1].description, "Virtuozzo Storage CS 1026");
        assert_eq!(
            (rows[2].unit.as_str(), rows[2].active.as_str()),
            ("vstorage-csd.c.1027.service", "failed")
        );
        assert_eq!(
            (rows[3].active.as_str(), rows[3].sub.as_str()),
            ("active", "active")
        );
    }

    #[test]
    fn rows_without_a_job_column_and_no_units() {
        let text = "UNIT            LOAD   ACTIVE SUB     DESCRIPTION\nchronyd.service loaded active running NTP client/server\n\n1 loaded units listed.\n";
        let rows = list_units(text);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].job.as_str(), rows[0].description.as_str()),
            ("", "NTP client/server")
        );
        assert!(list_units(
            "\n0 loaded units listed. Pass --all to see loaded but inactive units, too.\n"
        )
        .is_empty());
    }
}
