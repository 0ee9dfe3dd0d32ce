//! What the macros expand to: the guard acquisition, then the user's code inline.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Item, ItemFn, Lit, ReturnType, Type};

use crate::args::{LockArgs, WithLockInput};

/// `#[locked(...)]`: the function unchanged but for its body, which first takes
/// the guard. On bad input, the item is emitted unchanged beside the error, so
/// the only error the user sees is ours.
pub(crate) fn locked(args: &LockArgs, item: &TokenStream) -> TokenStream {
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(function)) => match locked_fn(args, &function) {
            Ok(tokens) => tokens,
            Err(err) => with_error(item, &err),
        },
        Ok(other) => {
            let err = syn::Error::new(
                item_keyword_span(&other),
                "#[locked] applies to functions only (free fns and methods with a body)",
            );
            with_error(item, &err)
        }
        Err(err) => with_error(item, &err),
    }
}

fn locked_fn(args: &LockArgs, function: &ItemFn) -> syn::Result<TokenStream> {
    let sig = &function.sig;
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "#[locked] cannot be used on a `const fn`: taking a lock happens at run time",
        ));
    }
    let guard = Ident::new("__lockfile_guard", Span::mixed_site());
    let acquire = acquire(args, sig.asyncness.is_some());
    let krate = crate_path(args);
    let take = if let Some(ty) = returns_result(&sig.output) {
        // `?` converts with `From`; spanned on the return type so that a missing
        // `From<LockError>` is reported there, not inside the expansion.
        quote_spanned!(ty.span()=> #acquire?)
    } else {
        quote!(#krate::__private::expect_lock(#acquire))
    };
    let stmts = &function.block.stmts;
    let mut body = TokenStream::new();
    function.block.brace_token.surround(&mut body, |body| {
        quote!(let #guard = #take; #(#stmts)*).to_tokens(body);
    });
    let ItemFn {
        attrs, vis, sig, ..
    } = &function;
    Ok(quote!(#(#attrs)* #vis #sig #body))
}

/// `with_lock!(...)`: a `Result<T, LockError>` whose `Ok` holds the block's value.
/// The block's statements are spliced into a block of ours, so `?`, `return`,
/// `break` and `continue` in them act on the enclosing fn or loop.
pub(crate) fn with_lock(input: &WithLockInput) -> TokenStream {
    let acquire = acquire(&input.args, input.is_async);
    let guard = Ident::new("__lockfile_guard", Span::mixed_site());
    let error = Ident::new("__lockfile_error", Span::mixed_site());
    let value = Ident::new("__lockfile_value", Span::mixed_site());
    let stmts = &input.body.stmts;
    // A body that always returns or breaks makes our `Ok` unreachable; that is
    // not the user's mistake, so the allow covers our statement and nothing else.
    quote! {
        match #acquire {
            ::core::result::Result::Ok(#guard) => {
                let #value = { #(#stmts)* };
                #[allow(unreachable_code)]
                let #value = ::core::result::Result::Ok(#value);
                #value
            }
            ::core::result::Result::Err(#error) => ::core::result::Result::Err(#error),
        }
    }
}

/// `LockOptions::new()...locked_context(&NAME)`: a `Result<LockedContext, LockError>`;
/// or `locked_context_async(&NAME).await` in async code, which yields while it waits.
fn acquire(args: &LockArgs, is_async: bool) -> TokenStream {
    let krate = crate_path(args);
    let name = &args.name;
    let timeout = args.timeout.map(|timeout| {
        let (secs, nanos) = (timeout.as_secs(), timeout.subsec_nanos());
        quote!(.timeout(#krate::__private::Duration::new(#secs, #nanos)))
    });
    let template = args.content_template.as_ref().map(|template| {
        if let Some(check) = literal_template_check(&krate, template) {
            quote!(.content_template({ #check #template }))
        } else {
            quote!(.content_template(#template))
        }
    });
    // Spanned on the name, so a name that is not a path is reported there.
    let name = quote_spanned!(name.span()=> &(#name));
    let take = if is_async {
        quote!(.locked_context_async(#name).await)
    } else {
        quote!(.locked_context(#name))
    };
    quote! {
        #krate::__private::LockOptions::new()
            #timeout
            #template
            #take
    }
}

/// A literal template is checked at compile time, by the runtime's own grammar
/// evaluated in a `const`, with the error on the literal.
fn literal_template_check(krate: &TokenStream, template: &Expr) -> Option<TokenStream> {
    let Expr::Lit(ExprLit {
        lit: Lit::Str(lit), ..
    }) = template
    else {
        return None;
    };
    Some(quote_spanned! {lit.span()=>
        const _: () = ::core::assert!(
            #krate::__private::template_is_valid(#lit),
            "invalid content template: braces may hold only {{pid}} or {{hostname}}; write {{{{ and }}}} for literal braces",
        );
    })
}

fn crate_path(args: &LockArgs) -> TokenStream {
    args.krate
        .as_ref()
        .map_or_else(|| quote!(::scoped_lockfile), ToTokens::to_token_stream)
}

/// The return type if its last path segment is `Result` (`Result<T, E>`,
/// `io::Result<T>`, `anyhow::Result<T>`): those get the error through `?`.
fn returns_result(output: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::Path(path) = &**ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    (last.ident == "Result").then_some(&**ty)
}

fn item_keyword_span(item: &Item) -> Span {
    match item {
        Item::Struct(item) => item.struct_token.span(),
        Item::Enum(item) => item.enum_token.span(),
        Item::Const(item) => item.const_token.span(),
        Item::Static(item) => item.static_token.span(),
        Item::Trait(item) => item.trait_token.span(),
        Item::Impl(item) => item.impl_token.span(),
        Item::Mod(item) => item.mod_token.span(),
        Item::Type(item) => item.type_token.span(),
        other => other.span(),
    }
}

pub(crate) fn with_error(item: &TokenStream, err: &syn::Error) -> TokenStream {
    let error = err.to_compile_error();
    quote!(#item #error)
}
