//! RFC 8941 parsing (dictionaries, inner lists, items, parameters).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::{BareItem, InnerList, Item, Member, Params, SfvError};

/// Byte-sequence decoder: standard alphabet, padding optional.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Parses an RFC 8941 dictionary, keeping member order.
pub(crate) fn parse_dictionary(input: &str) -> Result<Vec<(String, Member)>, SfvError> {
    let mut p = Parser {
        s: input.as_bytes(),
        pos: 0,
    };
    p.skip(|c| c == b' ' || c == b'\t');
    let mut out: Vec<(String, Member)> = Vec::new();
    if p.eof_after_ows() {
        return Ok(out);
    }
    loop {
        let key = p.key()?;
        let member = if p.eat(b'=') {
            p.member()?
        } else {
            Member::Item(Item {
                bare: BareItem::Boolean(true),
                params: p.params()?,
            })
        };
        upsert(&mut out, key, member);
        p.skip(|c| c == b' ' || c == b'\t');
        if p.peek().is_none() {
            return Ok(out);
        }
        p.expect(b',', "expected ','")?;
        p.skip(|c| c == b' ' || c == b'\t');
        if p.peek().is_none() {
            return Err(p.err("trailing comma"));
        }
    }
}

fn upsert<V>(list: &mut Vec<(String, V)>, key: String, value: V) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => list.push((key, value)),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eof_after_ows(&self) -> bool {
        self.s[self.pos..].iter().all(|c| *c == b' ' || *c == b'\t')
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), SfvError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn err(&self, what: &'static str) -> SfvError {
        SfvError {
            what,
            pos: self.pos,
        }
    }

    fn skip(&mut self, pred: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &str {
        let start = self.pos;
        self.skip(pred);
        // Only ASCII bytes are ever accepted by the predicates used here.
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("")
    }

    fn member(&mut self) -> Result<Member, SfvError> {
        if self.peek() == Some(b'(') {
            self.inner_list().map(Member::InnerList)
        } else {
            self.item().map(Member::Item)
        }
    }

    fn inner_list(&mut self) -> Result<InnerList, SfvError> {
        self.expect(b'(', "expected '('")?;
        let mut items = Vec::new();
        loop {
            self.skip(|c| c == b' ');
            if self.eat(b')') {
                let params = self.params()?;
                return Ok(InnerList { items, params });
            }
            items.push(self.item()?);
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return Err(self.err("expected ' ' or ')' in inner list"));
            }
        }
    }

    fn item(&mut self) -> Result<Item, SfvError> {
        let bare = self.bare_item()?;
        let params = self.params()?;
        Ok(Item { bare, params })
    }

    fn params(&mut self) -> Result<Params, SfvError> {
        let mut params = Vec::new();
        while self.eat(b';') {
            self.skip(|c| c == b' ');
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            upsert(&mut params, key, value);
        }
        Ok(params)
    }

    fn key(&mut self) -> Result<String, SfvError> {
        match self.peek() {
            Some(c) if c.is_ascii_lowercase() || c == b'*' => {}
            _ => return Err(self.err("expected key")),
        }
        let key = self
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c));
        Ok(key.to_owned())
    }

    fn bare_item(&mut self) -> Result<BareItem, SfvError> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string().map(BareItem::String),
            Some(b':') => self.byte_seq().map(BareItem::ByteSeq),
            Some(b'?') => self.boolean().map(BareItem::Boolean),
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => Ok(BareItem::Token(
                self.take_while(|c| is_tchar(c) || c == b':' || c == b'/')
                    .to_owned(),
            )),
            _ => Err(self.err("expected bare item")),
        }
    }

    fn number(&mut self) -> Result<BareItem, SfvError> {
        let negative = self.eat(b'-');
        let int_part = self.take_while(|c| c.is_ascii_digit()).to_owned();
        if int_part.is_empty() {
            return Err(self.err("expected digit"));
        }
        if !self.eat(b'.') {
            if int_part.len() > 15 {
                return Err(self.err("integer too long"));
            }
            let value: i64 = int_part.parse().map_err(|_| self.err("bad integer"))?;
            return Ok(BareItem::Integer(if negative { -value } else { value }));
        }
        let frac = self.take_while(|c| c.is_ascii_digit()).to_owned();
        if int_part.len() > 12 || frac.is_empty() || frac.len() > 3 {
            return Err(self.err("bad decimal"));
        }
        let int_value: i64 = int_part.parse().map_err(|_| self.err("bad decimal"))?;
        let frac = frac.trim_end_matches('0');
        let frac = if frac.is_empty() { "0" } else { frac };
        let sign = if negative { "-" } else { "" };
        Ok(BareItem::Decimal(format!("{sign}{int_value}.{frac}")))
    }

    fn string(&mut self) -> Result<String, SfvError> {
        self.expect(b'"', "expected '\"'")?;
        let mut out = String::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => out.push(char::from(c)),
                        _ => return Err(self.err("bad escape in string")),
                    }
                }
                Some(c @ 0x20..=0x7e) => out.push(char::from(c)),
                _ => return Err(self.err("bad character in string")),
            }
            self.pos += 1;
        }
    }

    fn byte_seq(&mut self) -> Result<Vec<u8>, SfvError> {
        self.expect(b':', "expected ':'")?;
        let start = self.pos;
        let b64 = self
            .take_while(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c))
            .to_owned();
        self.expect(b':', "expected ':' closing byte sequence")?;
        LENIENT.decode(b64).map_err(|_| SfvError {
            what: "bad base64 in byte sequence",
            pos: start,
        })
    }

    fn boolean(&mut self) -> Result<bool, SfvError> {
        self.expect(b'?', "expected '?'")?;
        if self.eat(b'1') {
            Ok(true)
        } else if self.eat(b'0') {
            Ok(false)
        } else {
            Err(self.err("expected ?0 or ?1"))
        }
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}
