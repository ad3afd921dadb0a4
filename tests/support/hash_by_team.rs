//! The SQL rewrite behind tests/scale.rs: each growing table becomes `PARTITION BY HASH (team_id)`.
//! A small tokenizer (comments, strings, quoted names, dollar-quoted bodies) splits migrations into
//! statements; only `CREATE TABLE` of a growing table and `PARTITION OF` a growing table change.

use super::Migration;
use std::collections::BTreeSet;
use std::ops::Range;

/// What a growing table's partitioning clause becomes.
pub(crate) const HASH: &str = "PARTITION BY HASH (team_id)";

/// Words in a team_id column definition that mean the table mints team ids (it is `teams`).
pub(crate) const MINTED: [&str; 9] = [
    "identity",
    "generated",
    "nextval",
    "serial",
    "bigserial",
    "smallserial",
    "serial2",
    "serial4",
    "serial8",
];

/// Applies the rewrite to every migration, in order (a table made growing in one file stays so).
pub(crate) fn hash_partitioned(migrations: &[Migration]) -> (Vec<Migration>, HashByTeam) {
    let mut guard = HashByTeam::default();
    let rewritten = migrations.iter().map(|m| Migration {
        name: m.name.clone(),
        sql: guard.rewrite(&m.sql),
    });
    (rewritten.collect(), guard)
}

#[derive(Default)]
pub(crate) struct HashByTeam {
    /// Growing tables seen so far (unqualified, as PostgreSQL folds them).
    pub(crate) growing: BTreeSet<String>,
    /// Partition statements dropped.
    pub(crate) skipped: Vec<String>,
}

impl HashByTeam {
    pub(crate) fn rewrite(&mut self, sql: &str) -> String {
        let tokens = lex(sql);
        let mut edits = Vec::new();
        for statement in tokens.split(|t| is(sql, t, ";")) {
            self.statement(sql, statement, &mut edits);
        }
        // From the end, so earlier offsets stay valid; of two insertions at one place, the one
        // made first ends up first.
        let mut out = sql.to_owned();
        let mut edits: Vec<_> = edits.into_iter().enumerate().collect();
        edits.sort_by_key(|(i, (range, _))| std::cmp::Reverse((range.start, *i)));
        for (_, (range, replacement)) in edits {
            out.replace_range(range, &replacement);
        }
        out
    }

    pub(crate) fn statement(
        &mut self,
        sql: &str,
        statement: &[Token],
        edits: &mut Vec<(Range<usize>, String)>,
    ) {
        let Some(after) = after_create_table(sql, statement) else {
            return;
        };
        let Some((table, name, used)) = table_name(sql, after) else {
            return;
        };
        let rest = &after[used..];
        let whole = statement[0].start..statement[statement.len() - 1].end;
        if let Some(parent) = eat(sql, rest, "partition").and_then(|r| eat(sql, r, "of")) {
            if table_name(sql, parent).is_some_and(|(parent, ..)| self.growing.contains(&parent)) {
                self.skipped.push(sql[whole.clone()].to_owned());
                edits.push((
                    whole,
                    "/* scale guard: partition of a hash-partitioned table, skipped */".into(),
                ));
            }
            return;
        }
        let Some(close) = rest
            .first()
            .filter(|t| is(sql, t, "("))
            .and_then(|_| closing(sql, rest))
        else {
            return;
        };
        if !self.carries_team(sql, &rest[1..close]) {
            return;
        }
        self.growing.insert(table.clone());
        let tail = &rest[close + 1..];
        let clause = tail
            .windows(2)
            .position(|w| is(sql, &w[0], "partition") && is(sql, &w[1], "by"));
        // PARTITION BY <strategy> ( <columns> ): the clause ends at the parenthesis closing at p + 3.
        let clause = clause.and_then(|p| Some((p, p + 3 + closing(sql, tail.get(p + 3..)?)?)));
        match clause {
            Some((from, to)) => edits.push((tail[from].start..tail[to].end, HASH.to_owned())),
            None => edits.push((rest[close].end..rest[close].end, format!(" {HASH}"))),
        }
        let (parent, partition) = (&sql[name], table.replace('"', "\"\""));
        let partitions: String = (0..2)
            .map(|r| {
                format!(
                    ";\nCREATE TABLE \"{partition}_hash_{r}\" PARTITION OF {parent} \
                     FOR VALUES WITH (MODULUS 2, REMAINDER {r})"
                )
            })
            .collect();
        edits.push((whole.end..whole.end, partitions));
    }

    /// Whether these table elements (between the parentheses) declare a team_id the table does
    /// not mint, or copy a growing table with LIKE.
    pub(crate) fn carries_team(&self, sql: &str, elements: &[Token]) -> bool {
        split_commas(sql, elements).into_iter().any(|element| {
            let Some(first) = element.first() else {
                return false;
            };
            if is(sql, first, "like") {
                return table_name(sql, &element[1..]).is_some_and(|(t, ..)| self.growing.contains(&t));
            }
            let minted = element.iter().any(|t| MINTED.iter().any(|word| is(sql, t, word)));
            ident(sql, first) == "team_id" && !minted
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Word,
    Quoted,
    Literal,
    Punct,
}

#[derive(Clone, Copy)]
pub(crate) struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Splits SQL into words, quoted identifiers, literals (strings, dollar-quoted bodies) and
/// punctuation, dropping whitespace and comments. Enough for DDL; not a parser.
pub(crate) fn lex(sql: &str) -> Vec<Token> {
    let b = sql.as_bytes();
    let word_byte = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let rest = &b[i..];
        let kind = if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        } else if rest.starts_with(b"--") {
            i += rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            continue;
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            continue;
        } else if b[i] == b'\'' || b[i] == b'"' {
            let quote = b[i];
            // E'...' strings take backslash escapes; elsewhere a quote is doubled.
            let backslash = quote == b'\''
                && tokens
                    .last()
                    .is_some_and(|t| t.end == i && text(sql, t).eq_ignore_ascii_case("e"));
            i += 1;
            while i < b.len() {
                if backslash && b[i] == b'\\' || b[i] == quote && b.get(i + 1) == Some(&quote) {
                    i += 2;
                } else if b[i] == quote {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            if quote == b'"' {
                Kind::Quoted
            } else {
                Kind::Literal
            }
        } else if let Some(tag) = dollar_tag(rest) {
            let body = &rest[tag.len()..];
            let closed = body.windows(tag.len()).position(|w| w == tag);
            i += tag.len() + closed.map_or(body.len(), |p| p + tag.len());
            Kind::Literal
        } else if word_byte(b[i]) && b[i] != b'$' {
            while i < b.len() && word_byte(b[i]) {
                i += 1;
            }
            Kind::Word
        } else {
            i += 1;
            Kind::Punct
        };
        tokens.push(Token {
            kind,
            start,
            end: i.min(b.len()),
        });
    }
    tokens
}

/// The `$tag$` (or `$$`) opening a dollar-quoted string at the start of `s`.
pub(crate) fn dollar_tag(s: &[u8]) -> Option<&[u8]> {
    if s.first() != Some(&b'$') || s.get(1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let end = 1 + s[1..]
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80))?;
    (s[end] == b'$').then(|| &s[..=end])
}

pub(crate) fn text<'s>(sql: &'s str, t: &Token) -> &'s str {
    &sql[t.start..t.end]
}

/// Whether `t` is this keyword or punctuation (quoted names and literals never are).
pub(crate) fn is(sql: &str, t: &Token, word: &str) -> bool {
    matches!(t.kind, Kind::Word | Kind::Punct) && text(sql, t).eq_ignore_ascii_case(word)
}

/// A name as PostgreSQL resolves it: unquoted names fold to lower case.
pub(crate) fn ident(sql: &str, t: &Token) -> String {
    let s = text(sql, t);
    match t.kind {
        Kind::Quoted => s
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(s)
            .replace("\"\"", "\""),
        _ => s.to_ascii_lowercase(),
    }
}

/// The tokens after `word`, if `tokens` starts with it.
pub(crate) fn eat<'t>(sql: &str, tokens: &'t [Token], word: &str) -> Option<&'t [Token]> {
    tokens
        .split_first()
        .filter(|(first, _)| is(sql, first, word))
        .map(|(_, rest)| rest)
}

/// The tokens after `CREATE [GLOBAL|LOCAL] [TEMP|TEMPORARY|UNLOGGED] TABLE [IF NOT EXISTS]`.
pub(crate) fn after_create_table<'t>(sql: &str, statement: &'t [Token]) -> Option<&'t [Token]> {
    let mut rest = eat(sql, statement, "create")?;
    for optional in ["global", "local", "temp", "temporary", "unlogged"] {
        rest = eat(sql, rest, optional).unwrap_or(rest);
    }
    rest = eat(sql, rest, "table")?;
    let if_not_exists = eat(sql, rest, "if")
        .and_then(|r| eat(sql, r, "not"))
        .and_then(|r| eat(sql, r, "exists"));
    Some(if_not_exists.unwrap_or(rest))
}

/// A possibly schema-qualified name at the start of `tokens`: its last part resolved, the bytes it
/// spans, and how many tokens it used.
pub(crate) fn table_name(sql: &str, tokens: &[Token]) -> Option<(String, Range<usize>, usize)> {
    let mut used = 0;
    loop {
        if !matches!(tokens.get(used)?.kind, Kind::Word | Kind::Quoted) {
            return None;
        }
        used += 1;
        if !tokens.get(used).is_some_and(|t| is(sql, t, ".")) {
            break;
        }
        used += 1;
    }
    let last = &tokens[used - 1];
    Some((ident(sql, last), tokens[0].start..last.end, used))
}

/// The index of the parenthesis closing the one at `tokens[0]`.
pub(crate) fn closing(sql: &str, tokens: &[Token]) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        if is(sql, t, "(") {
            depth += 1;
        } else if is(sql, t, ")") {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Splits at the commas outside parentheses.
pub(crate) fn split_commas<'t>(sql: &str, tokens: &'t [Token]) -> Vec<&'t [Token]> {
    let (mut parts, mut depth, mut from) = (Vec::new(), 0usize, 0);
    for (i, t) in tokens.iter().enumerate() {
        if is(sql, t, "(") {
            depth += 1;
        } else if is(sql, t, ")") {
            depth = depth.saturating_sub(1);
        } else if is(sql, t, ",") && depth == 0 {
            parts.push(&tokens[from..i]);
            from = i + 1;
        }
    }
    parts.push(&tokens[from..]);
    parts
}
