//! PostgREST's query-string grammar: filter values (`op.value`, `not.op`,
//! `in.(...)`), logic trees (`or=(a.eq.1,and(b.gt.2,c.lt.3))`), `select=`,
//! `order=` and `columns=`. Every input is hostile: lengths, counts and the
//! nesting depth are bounded by the constants in [`crate::request`].

use crate::error::ApiError;
use crate::request::{
    Condition, Filter, IsValue, MAX_CONDITIONS, MAX_IDENT_CHARS, MAX_IN_VALUES, MAX_LOGIC_DEPTH,
    MAX_ORDER_TERMS, MAX_SELECT_ITEMS, Op, Operand, OrderTerm, SelectItem,
};

/// PostgREST operators MagGate knows but does not implement.
const UNSUPPORTED_OPS: &[&str] =
    &["match", "imatch", "fts", "plfts", "phfts", "wfts", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj"];

const OPERATORS: &str = "eq, neq, gt, gte, lt, lte, like, ilike, in, is, isdistinct";

/// A cursor over one parameter value.
struct Cursor<'a> {
    /// The whole text.
    text: &'a str,
    /// The byte offset of the next character (always a character boundary).
    pos: usize,
    /// What is being parsed ("filter", "select", ...), for error messages.
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str, what: &'static str) -> Self {
        Cursor { text, pos: 0, what }
    }

    /// The text from the cursor on.
    fn rest(&self) -> &'a str {
        let text = self.text;
        &text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Step over the next character, if any.
    fn advance(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn starts_with(&self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ApiError> {
        if self.peek() == Some(c) {
            self.advance();
            Ok(())
        } else {
            Err(self.error(&format!("expected \"{c}\"")))
        }
    }

    fn error(&self, expected: &str) -> ApiError {
        let found = match self.peek() {
            Some(c) => format!("unexpected \"{c}\""),
            None => "unexpected end of input".to_owned(),
        };
        // Columns count characters, from 1.
        let column = self.text[..self.pos].chars().count() + 1;
        ApiError::parse(
            &format!("{} ({})", self.what, self.text),
            format!("{found} at column {column}; {expected}"),
        )
    }

    /// A double-quoted string with backslash escapes (`"a \"b\""`).
    fn quoted(&mut self) -> Result<String, ApiError> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("expected a closing \"")),
                Some('"') => {
                    self.advance();
                    return Ok(out);
                }
                Some('\\') => {
                    self.advance();
                    match self.peek() {
                        Some(c) => {
                            out.push(c);
                            self.advance();
                        }
                        None => return Err(self.error("expected a character after \\")),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.advance();
                }
            }
        }
    }

    /// Characters up to (not including) one of `stops` or the end.
    fn until(&mut self, stops: &[char]) -> &'a str {
        let rest = self.rest();
        let len = rest.find(stops).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// An identifier: quoted, or unquoted up to one of `stops` (trimmed).
    fn ident(&mut self, stops: &[char]) -> Result<String, ApiError> {
        let name = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            let rest = self.rest();
            let len = rest
                .char_indices()
                .find(|&(i, c)| stops.contains(&c) || c == '"' || (c == '-' && rest[i..].starts_with("->")))
                .map_or(rest.len(), |(i, _)| i);
            self.pos += len;
            rest[..len].trim().to_owned()
        };
        if name.is_empty() {
            return Err(self.error("expected a column name"));
        }
        check_ident_len(&name)?;
        Ok(name)
    }
}

fn check_ident_len(name: &str) -> Result<(), ApiError> {
    if name.chars().count() > MAX_IDENT_CHARS {
        return Err(ApiError::limit("identifier length", MAX_IDENT_CHARS));
    }
    Ok(())
}

/// Counts conditions across one request, against [`MAX_CONDITIONS`].
#[derive(Default)]
pub struct Budget {
    conditions: usize,
}

impl Budget {
    fn take(&mut self) -> Result<(), ApiError> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(ApiError::limit("number of filter conditions", MAX_CONDITIONS));
        }
        Ok(())
    }
}

/// A filter key (`col`, or `"quoted col"`).
pub fn parse_filter_key(key: &str) -> Result<String, ApiError> {
    if key.starts_with('"') {
        let mut c = Cursor::new(key, "filter");
        let name = c.quoted()?;
        if !c.at_end() {
            return Err(c.error("expected the end of the column name"));
        }
        check_ident_len(&name)?;
        return Ok(name);
    }
    if key.contains("->") {
        return Err(ApiError::not_implemented("filtering on a JSON path (->, ->>)"));
    }
    if key.is_empty() {
        return Err(ApiError::parse("filter", "empty column name"));
    }
    check_ident_len(key)?;
    Ok(key.to_owned())
}

/// A top-level filter value: `[not.]op.value`, the value running to the end.
pub fn parse_filter(column: String, value: &str, budget: &mut Budget) -> Result<Filter, ApiError> {
    budget.take()?;
    let mut c = Cursor::new(value, "filter");
    let (negate, op) = operator(&mut c)?;
    let operand = match op {
        Op::In => {
            let list = in_list(&mut c)?;
            if !c.at_end() {
                return Err(c.error("expected the end of the filter after the list"));
            }
            Operand::List(list)
        }
        Op::Is => Operand::Is(is_value(c.until(&[]), &c)?),
        _ => Operand::Value(c.until(&[]).to_owned()),
    };
    Ok(Filter::Cond(Condition { column, negate, op, operand }))
}

/// `not.`, then an operator, then its `.`.
fn operator(c: &mut Cursor) -> Result<(bool, Op), ApiError> {
    let negate = c.eat("not.");
    let name = c.until(&['.', '(', ',', ')']);
    let op = match name {
        "eq" => Op::Eq,
        "neq" => Op::Neq,
        "gt" => Op::Gt,
        "gte" => Op::Gte,
        "lt" => Op::Lt,
        "lte" => Op::Lte,
        "like" => Op::Like,
        "ilike" => Op::Ilike,
        "in" => Op::In,
        "is" => Op::Is,
        "isdistinct" => Op::IsDistinct,
        other if UNSUPPORTED_OPS.contains(&other) => {
            return Err(ApiError::not_implemented(&format!("the operator \"{other}\"")));
        }
        other => {
            return Err(ApiError::parse(
                &format!("filter ({})", c.text),
                format!("unknown operator \"{other}\"; expected \"not.\" or one of {OPERATORS}"),
            ));
        }
    };
    if c.peek() == Some('(') {
        return Err(ApiError::not_implemented("operator modifiers (any), (all)"));
    }
    c.expect('.')?;
    Ok((negate, op))
}

fn is_value(word: &str, c: &Cursor) -> Result<IsValue, ApiError> {
    const WORDS: [(&str, IsValue); 5] = [
        ("null", IsValue::Null),
        ("not_null", IsValue::NotNull),
        ("true", IsValue::True),
        ("false", IsValue::False),
        ("unknown", IsValue::Unknown),
    ];
    WORDS.iter().find(|(w, _)| word.eq_ignore_ascii_case(w)).map(|&(_, v)| v).ok_or_else(|| {
        ApiError::parse(
            &format!("filter ({})", c.text),
            format!("unknown value \"{word}\" for is; expected null, not_null, true, false or unknown"),
        )
    })
}

/// `(a,b,"c,d")`.
fn in_list(c: &mut Cursor) -> Result<Vec<String>, ApiError> {
    c.expect('(')?;
    let mut out = Vec::new();
    if c.eat(")") {
        return Ok(out);
    }
    loop {
        if out.len() >= MAX_IN_VALUES {
            return Err(ApiError::limit("number of values in in.()", MAX_IN_VALUES));
        }
        let item = if c.peek() == Some('"') { c.quoted()? } else { c.until(&[',', ')']).to_owned() };
        out.push(item);
        match c.peek() {
            Some(',') => c.advance(),
            Some(')') => {
                c.advance();
                return Ok(out);
            }
            _ => return Err(c.error("expected \",\" or \")\"")),
        }
    }
}

/// The value of `or=`, `and=`, `not.or=`, `not.and=`: `(item,item,...)`.
pub fn parse_logic(or: bool, negate: bool, value: &str, budget: &mut Budget) -> Result<Filter, ApiError> {
    let mut c = Cursor::new(value, "logic tree");
    let f = logic_group(&mut c, or, negate, 1, budget)?;
    if !c.at_end() {
        return Err(c.error("expected the end of the logic tree"));
    }
    Ok(f)
}

fn logic_group(
    c: &mut Cursor,
    or: bool,
    negate: bool,
    depth: usize,
    budget: &mut Budget,
) -> Result<Filter, ApiError> {
    if depth > MAX_LOGIC_DEPTH {
        return Err(ApiError::limit("logic tree nesting depth", MAX_LOGIC_DEPTH));
    }
    c.expect('(')?;
    let mut children = Vec::new();
    loop {
        children.push(logic_item(c, depth, budget)?);
        match c.peek() {
            Some(',') => c.advance(),
            Some(')') => {
                c.advance();
                return Ok(Filter::Logic { or, negate, children });
            }
            _ => return Err(c.error("expected \",\" or \")\"")),
        }
    }
}

fn logic_item(c: &mut Cursor, depth: usize, budget: &mut Budget) -> Result<Filter, ApiError> {
    for (prefix, or, negate) in
        [("or(", true, false), ("and(", false, false), ("not.or(", true, true), ("not.and(", false, true)]
    {
        if c.starts_with(prefix) {
            // Up to the `(`, which the group expects.
            c.pos += prefix.len() - 1;
            return logic_group(c, or, negate, depth + 1, budget);
        }
    }
    budget.take()?;
    let column = c.ident(&['.', ',', '(', ')'])?;
    if c.starts_with("->") {
        return Err(ApiError::not_implemented("filtering on a JSON path (->, ->>)"));
    }
    c.expect('.')?;
    let (negate, op) = operator(c)?;
    let operand = match op {
        Op::In => Operand::List(in_list(c)?),
        Op::Is => {
            let word = c.until(&[',', ')']);
            Operand::Is(is_value(word, c)?)
        }
        _ => {
            Operand::Value(if c.peek() == Some('"') { c.quoted()? } else { c.until(&[',', ')']).to_owned() })
        }
    };
    Ok(Filter::Cond(Condition { column, negate, op, operand }))
}

/// `select=*,id,alias:col,"quoted col"`.
pub fn parse_select(value: &str) -> Result<Vec<SelectItem>, ApiError> {
    let mut c = Cursor::new(value, "select");
    let mut items = Vec::new();
    if value.trim().is_empty() {
        return Ok(vec![SelectItem::Star]);
    }
    loop {
        if items.len() >= MAX_SELECT_ITEMS {
            return Err(ApiError::limit("number of select items", MAX_SELECT_ITEMS));
        }
        while c.peek() == Some(' ') {
            c.advance();
        }
        if c.starts_with("...") {
            return Err(ApiError::not_implemented("resource embedding (spread ...rel(...))"));
        }
        if c.peek() == Some('*') {
            c.advance();
            items.push(SelectItem::Star);
        } else {
            let stops = [',', ':', '(', ')', '!', '.'];
            let first = c.ident(&stops)?;
            let (alias, column) = if c.peek() == Some(':') && !c.starts_with("::") {
                c.advance();
                (Some(first), c.ident(&stops)?)
            } else {
                (None, first)
            };
            match c.peek() {
                Some('(') | Some('!') => {
                    return Err(ApiError::not_implemented(&format!("resource embedding ({column}(...))"))
                        .hint("select columns of this table only"));
                }
                Some(':') => return Err(ApiError::not_implemented("casts (col::type) in select")),
                Some('-') => return Err(ApiError::not_implemented("JSON paths (->, ->>) in select")),
                Some('.') => {
                    return Err(ApiError::not_implemented("aggregates and qualified names in select"));
                }
                _ => {}
            }
            items.push(SelectItem::Column { alias, column });
        }
        while c.peek() == Some(' ') {
            c.advance();
        }
        match c.peek() {
            None => return Ok(items),
            Some(',') => c.advance(),
            _ => return Err(c.error("expected \",\"")),
        }
    }
}

/// `order=a.desc.nullslast,b`.
pub fn parse_order(value: &str) -> Result<Vec<OrderTerm>, ApiError> {
    let mut c = Cursor::new(value, "order");
    let mut terms = Vec::new();
    loop {
        if terms.len() >= MAX_ORDER_TERMS {
            return Err(ApiError::limit("number of order terms", MAX_ORDER_TERMS));
        }
        let column = c.ident(&['.', ','])?;
        if c.starts_with("->") {
            return Err(ApiError::not_implemented("ordering by a JSON path (->, ->>)"));
        }
        let mut term = OrderTerm { column, desc: false, nulls_first: None };
        let mut seen_dir = false;
        let mut seen_nulls = false;
        while c.eat(".") {
            let word = c.until(&['.', ',']);
            match word {
                "asc" | "desc" if !seen_dir && !seen_nulls => {
                    term.desc = word == "desc";
                    seen_dir = true;
                }
                "nullsfirst" | "nullslast" if !seen_nulls => {
                    term.nulls_first = Some(word == "nullsfirst");
                    seen_nulls = true;
                }
                _ => {
                    return Err(ApiError::parse(
                        &format!("order ({value})"),
                        format!("unexpected \"{word}\"; expected asc, desc, nullsfirst or nullslast"),
                    ));
                }
            }
        }
        terms.push(term);
        match c.peek() {
            None => return Ok(terms),
            Some(',') => c.advance(),
            _ => return Err(c.error("expected \",\"")),
        }
    }
}

/// `columns=a,"b c"` for POST.
pub fn parse_columns(value: &str) -> Result<Vec<String>, ApiError> {
    let mut c = Cursor::new(value, "columns");
    let mut out = Vec::new();
    loop {
        if out.len() >= MAX_SELECT_ITEMS {
            return Err(ApiError::limit("number of columns", MAX_SELECT_ITEMS));
        }
        out.push(c.ident(&[','])?);
        match c.peek() {
            None => return Ok(out),
            Some(',') => c.advance(),
            _ => return Err(c.error("expected \",\"")),
        }
    }
}
