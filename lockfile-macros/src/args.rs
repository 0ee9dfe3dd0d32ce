//! The arguments both macros share: `NAME, shared, fair, timeout = "..",
//! content_template = .., on = .., crate = ".."`, and `#[locked]`'s own
//! `on_error = ".."`.

use std::time::Duration;

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Block, Expr, ExprArray, ExprLit, Ident, Lit, LitStr, Token, token};

/// The keys after the name, for error messages.
const KEYS: &str = "`shared`, `fair`, `timeout`, `content_template`, `on`, `on_error` or `crate`";

/// Parsed lock arguments; every key is optional.
pub(crate) struct LockArgs {
    pub(crate) name: Expr,
    /// Where `shared` was written, if it was.
    pub(crate) shared: Option<Span>,
    /// Where `fair` was written, if it was.
    pub(crate) fair: Option<Span>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) content_template: Option<Expr>,
    pub(crate) on_error: Option<OnError>,
    /// A backend value other than the lock files: `on = EXPR`.
    pub(crate) backend: Option<Expr>,
    pub(crate) krate: Option<syn::Path>,
}

/// What a `#[locked]` fn does when the lock cannot be taken.
#[derive(Clone, Copy)]
pub(crate) enum OnError {
    /// `on_error = "panic"`: panic with the error's message.
    Panic,
    /// `on_error = "return"`: `return Err(E::from(error))`, as `?` does.
    Return(Span),
}

/// `with_lock!`'s input: `async` if the lock is awaited, the lock arguments,
/// then the block, last.
pub(crate) struct WithLockInput {
    pub(crate) is_async: bool,
    pub(crate) args: LockArgs,
    pub(crate) body: Block,
}

impl Parse for LockArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let args = parse_args(input, false)?;
        Ok(args.0)
    }
}

impl Parse for WithLockInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `async` then a name; an `async { .. }` block is never a lock name.
        let is_async =
            input.peek(Token![async]) && !input.peek2(token::Brace) && !input.peek2(Token![move]);
        if is_async {
            input.parse::<Token![async]>()?;
        }
        let (args, body) = parse_args(input, true)?;
        let body = body.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "with_lock! needs a block as its last argument: \
                 `with_lock!(\"name\", timeout = \"5s\", { ... })`",
            )
        })?;
        Ok(Self {
            is_async,
            args,
            body,
        })
    }
}

fn parse_args(
    input: ParseStream<'_>,
    block_allowed: bool,
) -> syn::Result<(LockArgs, Option<Block>)> {
    let name = parse_name(input)?;
    let mut args = LockArgs {
        name,
        shared: None,
        fair: None,
        timeout: None,
        content_template: None,
        on_error: None,
        backend: None,
        krate: None,
    };
    let mut body = None;
    while !input.is_empty() {
        input.parse::<Token![,]>()?;
        if input.is_empty() {
            break;
        }
        if block_allowed && input.peek(token::Brace) {
            body = Some(input.parse()?);
            if input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
            }
            if !input.is_empty() {
                return Err(input.error("unexpected tokens after the block, which must come last"));
            }
            break;
        }
        parse_key_value(input, &mut args, block_allowed)?;
    }
    Ok((args, body))
}

fn parse_name(input: ParseStream<'_>) -> syn::Result<Expr> {
    let missing = "missing lock name: the first argument names the lock, \
                   e.g. `#[locked(\"job\")]` or `with_lock!(\"job\", { ... })`";
    if input.is_empty() {
        return Err(syn::Error::new(Span::call_site(), missing));
    }
    if input.peek(token::Brace) {
        return Err(input.error(missing));
    }
    if input.peek(Ident::peek_any) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
        return Err(input.error(missing));
    }
    let name = input.parse()?;
    if let Expr::Array(set) = &name {
        check_set(set)?;
    }
    Ok(name)
}

/// A literal set `[A, B, ..]` of lock names: at least one, and none written
/// twice (the same string, or the same path to a `const`). Names that differ
/// in spelling but not in file (`"a"`, `"./a"`) are merged at run time.
fn check_set(set: &ExprArray) -> syn::Result<()> {
    if set.elems.is_empty() {
        return Err(syn::Error::new_spanned(
            set,
            "empty set of locks: name at least one, e.g. `[\"db\", \"port\"]`",
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for name in &set.elems {
        let key = match name {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => format!("{:?}", lit.value()),
            Expr::Path(path) => path.to_token_stream().to_string(),
            _ => continue,
        };
        if seen.contains(&key) {
            return Err(syn::Error::new_spanned(
                name,
                format!("lock `{key}` is named twice in this set: name each lock once"),
            ));
        }
        seen.push(key);
    }
    Ok(())
}

fn parse_key_value(
    input: ParseStream<'_>,
    args: &mut LockArgs,
    with_lock: bool,
) -> syn::Result<()> {
    if !input.peek(Ident::peek_any) {
        return Err(input.error(format!("expected {KEYS}")));
    }
    let key = input.call(Ident::parse_any)?;
    let repeated = || syn::Error::new(key.span(), format!("`{key}` is given twice"));
    let flag = if key == "shared" {
        Some(&mut args.shared)
    } else if key == "fair" {
        Some(&mut args.fair)
    } else {
        None
    };
    if let Some(flag) = flag {
        // A flag: present or not.
        if flag.is_some() {
            return Err(repeated());
        }
        if input.peek(Token![=]) {
            return Err(input.error(format!("`{key}` takes no value: write `{key}` alone")));
        }
        *flag = Some(key.span());
        return Ok(());
    }
    input.parse::<Token![=]>()?;
    match key.to_string().as_str() {
        "timeout" => {
            if args.timeout.is_some() {
                return Err(repeated());
            }
            args.timeout = Some(parse_duration(input)?);
        }
        "content_template" => {
            if args.content_template.is_some() {
                return Err(repeated());
            }
            args.content_template = Some(input.parse()?);
        }
        "on" => {
            if args.backend.is_some() {
                return Err(repeated());
            }
            args.backend = Some(input.parse()?);
        }
        "on_error" if with_lock => {
            return Err(syn::Error::new(
                key.span(),
                "`on_error` is for #[locked] only: with_lock! always evaluates to a \
                 `Result<T, LockError>`",
            ));
        }
        "on_error" => {
            if args.on_error.is_some() {
                return Err(repeated());
            }
            args.on_error = Some(parse_on_error(input)?);
        }
        "crate" => {
            if args.krate.is_some() {
                return Err(repeated());
            }
            let path: LitStr = input.parse()?;
            args.krate = Some(path.parse()?);
        }
        _ => {
            return Err(syn::Error::new(
                key.span(),
                format!("unknown key `{key}`: expected {KEYS}"),
            ));
        }
    }
    Ok(())
}

fn parse_on_error(input: ParseStream<'_>) -> syn::Result<OnError> {
    let expected = "expected `on_error = \"panic\"` or `on_error = \"return\"`";
    let lit: LitStr = input
        .parse()
        .map_err(|err| syn::Error::new(err.span(), expected))?;
    match lit.value().as_str() {
        "panic" => Ok(OnError::Panic),
        "return" => Ok(OnError::Return(lit.span())),
        other => Err(syn::Error::new(
            lit.span(),
            format!("unknown `on_error = {other:?}`: {expected}"),
        )),
    }
}

/// A humantime duration string (`"500ms"`, `"5s"`, `"1m 30s"`), parsed now so a
/// typo is a compile error on the literal rather than a surprise at run time.
fn parse_duration(input: ParseStream<'_>) -> syn::Result<Duration> {
    let expected = "expected a duration string such as \"500ms\", \"5s\" or \"1m 30s\"";
    let lit = match input.parse::<Lit>() {
        Ok(Lit::Str(lit)) => lit,
        Ok(other) => return Err(syn::Error::new(other.span(), expected)),
        Err(err) => return Err(syn::Error::new(err.span(), expected)),
    };
    humantime::parse_duration(&lit.value()).map_err(|err| {
        syn::Error::new(
            lit.span(),
            format!("invalid duration {:?}: {err}; {expected}", lit.value()),
        )
    })
}
