//! What the macros expand to: the guard acquisition, then the user's code inline.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    AttrStyle, Expr, ExprLit, GenericArgument, Ident, Item, ItemFn, Lit, PathArguments, ReturnType,
    Type, TypeParamBound,
};

use crate::args::{LockArgs, OnError, WithLockInput};

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
    set_without_backend(args)?;
    let sig = &function.sig;
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "#[locked] cannot be used on a `const fn`: taking a lock happens at run time",
        ));
    }
    let is_async = sig.asyncness.is_some();
    if !is_async && let Some(ty) = returns_future(&sig.output) {
        // `#[async_trait]` on the impl or trait runs first and hands us its
        // output: the `async fn` the user wrote is gone, a boxed future with
        // its `'async_trait` lifetime is what is left.
        if quote!(#ty).to_string().contains("'async_trait") {
            return Err(syn::Error::new_spanned(
                ty,
                "#[locked] cannot see through #[async_trait], which has already turned this \
                 `async fn` into a fn returning a boxed future: take the lock inside the body \
                 instead, e.g. `scoped_lockfile::with_lock!(async NAME, { BODY })?`",
            ));
        }
        return Err(syn::Error::new_spanned(
            ty,
            "#[locked] on a fn that returns a future would release the lock when the fn \
             returns, before the future runs: write an `async fn` instead",
        ));
    }
    let guard = Ident::new("__lockfile_guard", Span::mixed_site());
    let pending = Ident::new("__lockfile_pending", Span::mixed_site());
    let krate = crate_path(args);
    let acquire = acquire(args, is_async);
    // Taking the lock is a statement of its own, so the name's temporaries end
    // before the body runs (and, in an async fn, before the first `.await`).
    let (before, result) = if is_async {
        (quote!(let #pending = #acquire;), quote!(#pending.await))
    } else if args.backend.is_none() {
        // A sync fn's guard cannot leave its frame: registered as held by this
        // thread, a wait for it on this thread is refused, not a hang.
        let enter = if matches!(args.name, Expr::Array(_)) {
            quote!(enter_set_scope)
        } else {
            quote!(enter_scope)
        };
        (
            TokenStream::new(),
            quote!(#krate::__private::#enter(#acquire)),
        )
    } else {
        // The same for `on = Files`, the default spelled out.
        (
            TokenStream::new(),
            quote!(#krate::__private::enter_scope_on(#acquire)),
        )
    };
    let error_path = on_error(args, &sig.output);
    if let (Some(abi), ErrorPath::Panic) = (&sig.abi, &error_path) {
        return Err(syn::Error::new_spanned(
            abi,
            "#[locked] on an `extern` fn would panic when the lock cannot be taken, and a \
             panic cannot unwind out of it (the process aborts): return a `Result` and \
             use `on_error = \"return\"`, or lock inside a Rust fn it calls",
        ));
    }
    let take = match error_path {
        // `?` converts with `From`; spanned on the return type (or the key that
        // asked for it) so that a missing `From<LockError>` is reported there,
        // not inside the expansion.
        ErrorPath::Return(span) => quote_spanned!(span=> #result?),
        ErrorPath::Panic => quote!(#krate::__private::expect_lock(#result)),
    };
    // Inner attributes (`#![allow(..)]`) stay at the top of the body.
    let (inner, outer): (Vec<_>, Vec<_>) = function
        .attrs
        .iter()
        .partition(|attr| matches!(attr.style, AttrStyle::Inner(_)));
    let stmts = &function.block.stmts;
    let mut body = TokenStream::new();
    function.block.brace_token.surround(&mut body, |body| {
        quote!(#(#inner)* #before let #guard = #take; #(#stmts)*).to_tokens(body);
    });
    let vis = &function.vis;
    Ok(quote!(#(#outer)* #vis #sig #body))
}

/// Where a `#[locked]` fn's lock error goes.
enum ErrorPath {
    /// Returned as `Err(E::from(error))`; errors about it point at this span.
    Return(Span),
    Panic,
}

/// `on_error` if given; otherwise `?` for a fn returning `Result`, else a panic.
fn on_error(args: &LockArgs, output: &ReturnType) -> ErrorPath {
    match args.on_error {
        Some(OnError::Panic) => ErrorPath::Panic,
        Some(OnError::Return(span)) => ErrorPath::Return(match output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => span,
        }),
        None => returns_result(output).map_or(ErrorPath::Panic, |ty| ErrorPath::Return(ty.span())),
    }
}

/// `with_lock!(...)`: a `Result<T, LockError>` whose `Ok` holds the block's value.
/// The block's statements are spliced into a block of ours, so `?`, `return`,
/// `break` and `continue` in them act on the enclosing fn or loop.
pub(crate) fn with_lock(input: &WithLockInput) -> TokenStream {
    if let Err(err) = set_without_backend(&input.args) {
        return err.to_compile_error();
    }
    let acquire = acquire(&input.args, input.is_async);
    let guard = Ident::new("__lockfile_guard", Span::mixed_site());
    let pending = Ident::new("__lockfile_pending", Span::mixed_site());
    let taken = Ident::new("__lockfile_taken", Span::mixed_site());
    let error = Ident::new("__lockfile_error", Span::mixed_site());
    let value = Ident::new("__lockfile_value", Span::mixed_site());
    // The lock is taken in a `let` of its own, not in the `match`'s scrutinee,
    // whose temporaries would live through the whole body (a `Mutex` guard in
    // the name would be held while the body runs; an `Rc` would make the
    // future `!Send` across the body's `.await`s).
    let take = if input.is_async {
        quote!(let #pending = #acquire; let #taken = #pending.await;)
    } else {
        quote!(let #taken = #acquire;)
    };
    let stmts = &input.body.stmts;
    // A body that always returns or breaks makes our `Ok` unreachable, and the
    // block we take its value from a diverging sub-expression; neither is the
    // user's mistake. The allows cover our two statements (the second silences
    // that one clippy lint inside the body too: documented).
    quote! {
        {
            #take
            match #taken {
                ::core::result::Result::Ok(#guard) => {
                    #[allow(clippy::diverging_sub_expression)]
                    let #value = { #(#stmts)* };
                    #[allow(unreachable_code, clippy::diverging_sub_expression)]
                    let #value = ::core::result::Result::Ok(#value);
                    #value
                }
                ::core::result::Result::Err(#error) => ::core::result::Result::Err(#error),
            }
        }
    }
}

/// `LockOptions::new()...locked_context(&NAME)`: a `Result<LockedContext, LockError>`;
/// or, in async code, the future `locked_context_async(&NAME)`, to be awaited.
/// With `on = BACKEND`, `lock_on(&BACKEND, &NAME)` and `lock_on_async`.
fn acquire(args: &LockArgs, is_async: bool) -> TokenStream {
    let krate = crate_path(args);
    let name = &args.name;
    let shared = args.shared.map(|span| quote_spanned!(span=> .shared()));
    let fair = args.fair.map(|span| quote_spanned!(span=> .fair()));
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
    let options = quote! {
        #krate::__private::LockOptions::new()
            #shared
            #fair
            #timeout
            #template
    };
    // In a test harness (`cfg(test)` of the crate the macro expands in), the
    // lock file names the running test, and a wait says who it waits for.
    let in_test = quote!(::core::cfg!(test));
    if let Expr::Array(set) = name {
        // Each name as a `Cow<Path>`, so names of different types make one
        // array; relative ones under the lock directory, if one is set.
        let names = set
            .elems
            .iter()
            .map(|name| quote_spanned!(name.span()=> #krate::__private::in_lock_dir(&(#name))));
        let take = if is_async {
            quote!(take_set_async)
        } else {
            quote!(take_set)
        };
        return quote!(#krate::__private::#take(#options, [#(#names),*], #in_test));
    }
    let Some(backend) = &args.backend else {
        // Spanned on the name, so a name that is not a path is reported there.
        let name = quote_spanned!(name.span()=> #krate::__private::in_lock_dir(&(#name)));
        let take = if is_async {
            quote!(take_async)
        } else {
            quote!(take)
        };
        return quote!(#krate::__private::#take(#options, #name, #in_test));
    };
    let name = quote_spanned!(name.span()=> &(#name));
    let backend = quote_spanned!(backend.span()=> &(#backend));
    let take = if is_async {
        quote!(.lock_on_async(#backend, #name))
    } else {
        quote!(.lock_on(#backend, #name))
    };
    quote!(#krate::__private::naming_the_test(#options, #in_test) #take)
}

/// A set of locks is taken on lock files: a backend's `lock_on` takes one name.
fn set_without_backend(args: &LockArgs) -> syn::Result<()> {
    match (&args.name, &args.backend) {
        (Expr::Array(set), Some(_)) => Err(syn::Error::new_spanned(
            set,
            "a set of locks is taken on lock files only: `on = ..` takes a single name",
        )),
        _ => Ok(()),
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
        const _: () = if let ::core::option::Option::Some(error) =
            #krate::__private::template_error(#lit)
        {
            ::core::panic!("{}", error.as_str())
        };
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

/// The return type if it is a future, as far as its spelling tells:
/// `impl Future<..>` (or `IntoFuture`), `Pin<Box<dyn Future<..>>>`, `Box<dyn Future<..>>`,
/// `BoxFuture<..>`, `LocalBoxFuture<..>`. A sync fn returning one would run
/// the future's work after the lock is released.
fn returns_future(output: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    is_future(ty).then_some(&**ty)
}

fn is_future(ty: &Type) -> bool {
    let names_future = |bounds: &syn::punctuated::Punctuated<TypeParamBound, _>| {
        bounds.iter().any(|bound| {
            matches!(bound, TypeParamBound::Trait(tr)
                if tr.path.segments.last().is_some_and(|last| last.ident == "Future" || last.ident == "IntoFuture"))
        })
    };
    match ty {
        Type::ImplTrait(ty) => names_future(&ty.bounds),
        Type::TraitObject(ty) => names_future(&ty.bounds),
        Type::Paren(ty) => is_future(&ty.elem),
        Type::Group(ty) => is_future(&ty.elem),
        Type::Path(ty) => {
            let Some(last) = ty.path.segments.last() else {
                return false;
            };
            if last.ident == "BoxFuture" || last.ident == "LocalBoxFuture" {
                return true;
            }
            if last.ident != "Pin" && last.ident != "Box" {
                return false;
            }
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return false;
            };
            args.args
                .iter()
                .any(|arg| matches!(arg, GenericArgument::Type(inner) if is_future(inner)))
        }
        _ => false,
    }
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
