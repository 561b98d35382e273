//! Values bound to a statement's placeholders: the literals of a text statement (taken out by
//! the shape normalizer) or a prepared statement's parameters.

use std::borrow::Cow;

use shardgate_config::ShardKey;

/// One bound value, as far as routing needs to know it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue<'a> {
    Null,
    Int(i128),
    /// A decimal or floating-point number, as text (`12.50`, `1e3`).
    Number(Cow<'a, str>),
    /// A character string, unescaped.
    Str(Cow<'a, str>),
    /// Binary data that is not valid UTF-8.
    Bytes(Cow<'a, [u8]>),
}

impl ParamValue<'_> {
    /// The key as a sharding algorithm sees it, or `None` when it cannot say which shard
    /// (NULL, a fraction, binary data): routing then considers every shard, or refuses.
    pub fn shard_key(&self) -> Option<ShardKey<'_>> {
        match self {
            ParamValue::Int(v) => Some(ShardKey::Int(*v)),
            ParamValue::Str(s) => Some(ShardKey::Str(s)),
            ParamValue::Number(text) => integral(text).map(ShardKey::Int),
            ParamValue::Null | ParamValue::Bytes(_) => None,
        }
    }

    /// An integer value, for range pruning and LIMIT.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            ParamValue::Int(v) => Some(*v),
            ParamValue::Number(text) => integral(text),
            ParamValue::Str(s) => s.trim().parse().ok(),
            ParamValue::Null | ParamValue::Bytes(_) => None,
        }
    }

    pub fn into_owned(self) -> ParamValue<'static> {
        match self {
            ParamValue::Null => ParamValue::Null,
            ParamValue::Int(v) => ParamValue::Int(v),
            ParamValue::Number(t) => ParamValue::Number(Cow::Owned(t.into_owned())),
            ParamValue::Str(s) => ParamValue::Str(Cow::Owned(s.into_owned())),
            ParamValue::Bytes(b) => ParamValue::Bytes(Cow::Owned(b.into_owned())),
        }
    }
}

/// `5.00` equals the integer 5 in MySQL's comparison; `5.5` equals no integer.
fn integral(text: &str) -> Option<i128> {
    let text = text.trim();
    if let Ok(v) = text.parse::<i128>() {
        return Some(v);
    }
    let (whole, frac) = text.split_once('.')?;
    if frac.chars().all(|c| c == '0') && !frac.contains(['e', 'E']) {
        whole.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_route_only_when_integral() {
        assert_eq!(
            ParamValue::Number("5.00".into()).shard_key(),
            Some(ShardKey::Int(5))
        );
        assert_eq!(ParamValue::Number("5.5".into()).shard_key(), None);
        assert_eq!(ParamValue::Number("1e3".into()).shard_key(), None);
        assert_eq!(ParamValue::Null.shard_key(), None);
    }
}
