//! Name patterns: `order_db_{0..31}` is 32 names, `t_{00..15}` keeps the zero padding, and a
//! name without braces is itself.

/// Expands a pattern into its names, in index order.
pub fn expand(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('{') else {
        if pattern.contains('}') {
            return Err(format!("`{pattern}`: `}}` without `{{`"));
        }
        return check_name(pattern).map(|n| vec![n]);
    };
    let close = pattern[open..]
        .find('}')
        .map(|c| c + open)
        .ok_or_else(|| format!("`{pattern}`: `{{` without `}}`"))?;
    let (prefix, inner, suffix) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    if suffix.contains(['{', '}']) {
        return Err(format!(
            "`{pattern}`: only one `{{lo..hi}}` range per pattern"
        ));
    }
    let (lo_text, hi_text) = inner
        .split_once("..")
        .ok_or_else(|| format!("`{pattern}`: expected `{{lo..hi}}`, e.g. `{{0..31}}`"))?;
    let lo: u32 = lo_text
        .parse()
        .map_err(|_| format!("`{pattern}`: `{lo_text}` is not a number"))?;
    let hi: u32 = hi_text
        .parse()
        .map_err(|_| format!("`{pattern}`: `{hi_text}` is not a number"))?;
    if lo > hi {
        return Err(format!("`{pattern}`: range {lo}..{hi} is empty"));
    }
    if hi - lo >= 1 << 20 {
        return Err(format!("`{pattern}`: range {lo}..{hi} is too large"));
    }
    let width = if lo_text.len() > 1 && lo_text.starts_with('0') {
        lo_text.len()
    } else {
        0
    };
    (lo..=hi)
        .map(|i| check_name(&format!("{prefix}{i:0width$}{suffix}")))
        .collect()
}

/// MySQL identifiers here are unquoted in rewritten SQL, so keep them to the safe alphabet.
fn check_name(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "`{name}`: names must be 1-64 characters of letters, digits, `_` and `$`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn expands_ranges() {
        let names = expand("order_db_{0..31}").unwrap();
        assert_eq!(names.len(), 32);
        assert_eq!(names[0], "order_db_0");
        assert_eq!(names[31], "order_db_31");
        assert_eq!(
            expand("t_{00..02}_x").unwrap(),
            vec!["t_00_x", "t_01_x", "t_02_x"]
        );
        assert_eq!(expand("plain").unwrap(), vec!["plain"]);
    }

    #[test]
    fn rejects_bad_patterns() {
        assert!(expand("a_{3..1}").unwrap_err().contains("empty"));
        assert!(expand("a_{1..x}").unwrap_err().contains("not a number"));
        assert!(expand("a_{1..2").unwrap_err().contains("without"));
        assert!(expand("a_{1..2}_{1..2}").unwrap_err().contains("only one"));
        assert!(expand("bad-name").unwrap_err().contains("letters"));
    }
}
