//! Disjunctive normal form, shared by the formats whose indicators are
//! AND/OR trees (STIX patterns, OpenIOC criteria): a list of terms, any of
//! which matches when all of its items do. Only single-item terms become
//! IOCs; the rest are listed as not used.

/// Most alternatives a tree may expand to (an AND of ORs multiplies).
pub const MAX_TERMS: usize = 4096;

/// Items named in a "cannot be one IOC" message; a 20,000-item AND would
/// otherwise make a megabyte-long line.
const SHOWN_ITEMS: usize = 4;

/// `a AND b`. Linear in the items when one side is a single term (an AND
/// chain of n items costs n steps, not n²): that side's items are appended
/// to each term of the other, which is moved, not copied.
pub fn and<T: Clone>(mut a: Vec<Vec<T>>, mut b: Vec<Vec<T>>) -> Result<Vec<Vec<T>>, String> {
    if a.len().saturating_mul(b.len()) > MAX_TERMS {
        return Err(format!(
            "expands to more than {MAX_TERMS} alternatives (an AND of ORs)"
        ));
    }
    if b.len() == 1 {
        let y = b.pop().unwrap_or_default();
        for x in &mut a {
            x.extend(y.iter().cloned());
        }
        return Ok(a);
    }
    if a.len() == 1 {
        let x = a.pop().unwrap_or_default();
        for y in &mut b {
            y.splice(0..0, x.iter().cloned());
        }
        return Ok(b);
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in &a {
        for y in &b {
            out.push(x.iter().chain(y).cloned().collect());
        }
    }
    Ok(out)
}

/// "AND of n items cannot be one IOC: i1 AND i2 AND … (n − 4 more)".
pub fn and_message<T>(what: &str, term: &[T], show: impl Fn(&T) -> String) -> String {
    let mut shown: Vec<String> = term.iter().take(SHOWN_ITEMS).map(show).collect();
    if term.len() > SHOWN_ITEMS {
        shown.push(format!("… ({} more)", term.len() - SHOWN_ITEMS));
    }
    format!(
        "AND of {} {what} cannot be one IOC: {}",
        term.len(),
        shown.join(" AND ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_distributes_over_or() {
        let a = vec![vec![1], vec![2]];
        let b = vec![vec![3], vec![4]];
        assert_eq!(
            and(a, b).unwrap(),
            vec![vec![1, 3], vec![1, 4], vec![2, 3], vec![2, 4]]
        );
        assert_eq!(
            and(vec![vec![1]], vec![vec![2], vec![3]]).unwrap(),
            vec![vec![1, 2], vec![1, 3]]
        );
        assert_eq!(
            and(vec![vec![1], vec![2]], vec![vec![3]]).unwrap(),
            vec![vec![1, 3], vec![2, 3]]
        );
        assert!(and(vec![vec![0]; 100], vec![vec![0]; 100]).is_err());
    }

    #[test]
    fn long_and_messages_are_cut() {
        let m = and_message("items", &[1, 2, 3, 4, 5, 6], |i| i.to_string());
        assert_eq!(
            m,
            "AND of 6 items cannot be one IOC: 1 AND 2 AND 3 AND 4 AND … (2 more)"
        );
    }
}
