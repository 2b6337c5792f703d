//! The expansion of `#[derive(DomainEvent)]`, on `proc_macro2` tokens so
//! that it can be tested.

use std::collections::hash_map::{Entry, HashMap};

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, LitInt, LitStr};

/// The `impl ::dynago_es::DomainEvent` of `input`, or every error found in
/// it.
pub fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let (event_type, schema_version) = match &input.data {
        Data::Struct(data) => {
            refuse_on_fields(&data.fields, &mut errors);
            let attrs = EventAttrs::parse(&input.attrs, &mut errors);
            let event = Event::new(&input.ident, attrs);
            let (name, version) = (&event.name, event.version);
            let schema_version = (version != 1).then(|| {
                quote! {
                    fn schema_version(&self) -> u32 {
                        #version
                    }
                }
            });
            (quote!(#name), schema_version)
        }
        Data::Enum(data) => {
            if let Some(attr) = event_attrs(&input.attrs).next() {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "`#[event(...)]` goes on each variant of an enum, not on the enum",
                ));
            }
            let events: Vec<Event> = data
                .variants
                .iter()
                .map(|variant| {
                    refuse_on_fields(&variant.fields, &mut errors);
                    Event::new(
                        &variant.ident,
                        EventAttrs::parse(&variant.attrs, &mut errors),
                    )
                })
                .collect();
            refuse_shared_names(&events, &mut errors);
            enum_bodies(&events)
        }
        Data::Union(data) => {
            return Err(syn::Error::new(
                data.union_token.span,
                "`DomainEvent` cannot be derived for a union: use an enum or a struct",
            ));
        }
    };
    errors.finish()?;

    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::dynago_es::DomainEvent for #ident #ty_generics #where_clause {
            fn event_type(&self) -> &'static str {
                #event_type
            }

            #schema_version
        }
    })
}

/// The body of `event_type` and, unless every version is 1, a
/// `schema_version` method, for an enum with these variants.
fn enum_bodies(events: &[Event]) -> (TokenStream, Option<TokenStream>) {
    if events.is_empty() {
        return (quote!(match *self {}), None);
    }
    let variants: Vec<&Ident> = events.iter().map(|event| event.ident).collect();
    let names = events.iter().map(|event| &event.name);
    let event_type = quote! {
        match self {
            #(Self::#variants { .. } => #names,)*
        }
    };
    let schema_version = events.iter().any(|event| event.version != 1).then(|| {
        let versions = events.iter().map(|event| event.version);
        quote! {
            fn schema_version(&self) -> u32 {
                match self {
                    #(Self::#variants { .. } => #versions,)*
                }
            }
        }
    });
    (event_type, schema_version)
}

/// One event type: a struct, or a variant of an enum.
struct Event<'a> {
    ident: &'a Ident,
    name: String,
    /// Where an error about the name points: the rename, or the identifier.
    name_span: Span,
    version: u32,
}

impl<'a> Event<'a> {
    fn new(ident: &'a Ident, attrs: EventAttrs) -> Self {
        let (name, name_span) = attrs
            .rename
            .unwrap_or_else(|| (ident.unraw().to_string(), ident.span()));
        Self {
            ident,
            name,
            name_span,
            version: attrs.version.unwrap_or(1),
        }
    }
}

/// What the `#[event(...)]` attributes of a struct or a variant say.
#[derive(Default)]
struct EventAttrs {
    rename: Option<(String, Span)>,
    version: Option<u32>,
}

impl EventAttrs {
    /// Reads every `#[event(...)]` in `attrs`, pushing what is wrong with
    /// them to `errors`.
    fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        let mut parsed = Self::default();
        for attr in event_attrs(attrs) {
            let read = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let name: LitStr = meta.value()?.parse()?;
                    if parsed.rename.is_some() {
                        return Err(meta.error("`rename` is given twice"));
                    }
                    let value = name.value();
                    if value.is_empty() {
                        return Err(syn::Error::new(
                            name.span(),
                            "an event type name cannot be empty",
                        ));
                    }
                    parsed.rename = Some((value, name.span()));
                    Ok(())
                } else if meta.path.is_ident("version") {
                    let version: LitInt = meta.value()?.parse()?;
                    if parsed.version.is_some() {
                        return Err(meta.error("`version` is given twice"));
                    }
                    match version.base10_parse::<u32>()? {
                        0 => Err(syn::Error::new(
                            version.span(),
                            "schema versions start at 1",
                        )),
                        number => {
                            parsed.version = Some(number);
                            Ok(())
                        }
                    }
                } else {
                    let key = meta.path.to_token_stream().to_string().replace(' ', "");
                    Err(meta.error(format!(
                        "unknown `event` attribute `{key}`: expected `rename = \"...\"` or `version = N`"
                    )))
                }
            });
            if let Err(error) = read {
                errors.push(error);
            }
        }
        parsed
    }
}

/// The `#[event(...)]` attributes among `attrs`.
fn event_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("event"))
}

/// An error for each `#[event(...)]` on a field, where it means nothing.
fn refuse_on_fields(fields: &Fields, errors: &mut Errors) {
    for attr in fields.iter().flat_map(|field| event_attrs(&field.attrs)) {
        errors.push(syn::Error::new_spanned(
            attr,
            "`#[event(...)]` goes on a struct or a variant, not on a field",
        ));
    }
}

/// An error for each variant whose type name an earlier variant has: their
/// stored events could not be told apart.
fn refuse_shared_names(events: &[Event], errors: &mut Errors) {
    let mut seen: HashMap<&str, &Ident> = HashMap::new();
    for event in events {
        match seen.entry(&event.name) {
            Entry::Vacant(slot) => {
                slot.insert(event.ident);
            }
            Entry::Occupied(first) => errors.push(syn::Error::new(
                event.name_span,
                format!(
                    "variants `{}` and `{}` have the same event type name `{}`: \
                     their events could not be told apart when read",
                    first.get(),
                    event.ident,
                    event.name
                ),
            )),
        }
    }
}

/// The errors found so far, reported together.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn expand(input: DeriveInput) -> String {
        match derive(&input) {
            Ok(tokens) => tokens.to_string(),
            Err(error) => panic!("expected an expansion, got `{error}`"),
        }
    }

    fn errors(input: DeriveInput) -> Vec<String> {
        match derive(&input) {
            Ok(tokens) => panic!("expected errors, got `{tokens}`"),
            Err(error) => error.into_iter().map(|error| error.to_string()).collect(),
        }
    }

    #[test]
    fn an_enum_names_each_variant() {
        let expanded = expand(parse_quote! {
            enum AccountEvent {
                Opened { owner: String },
                Deposited(u64),
                Closed,
            }
        });
        let expected = quote! {
            #[automatically_derived]
            impl ::dynago_es::DomainEvent for AccountEvent {
                fn event_type(&self) -> &'static str {
                    match self {
                        Self::Opened { .. } => "Opened",
                        Self::Deposited { .. } => "Deposited",
                        Self::Closed { .. } => "Closed",
                    }
                }
            }
        };
        assert_eq!(expanded, expected.to_string());
    }

    #[test]
    fn renames_and_versions_apply_to_their_variant_only() {
        let expanded = expand(parse_quote! {
            enum AccountEvent {
                #[event(rename = "Credited")]
                Deposited { amount: u64 },
                #[event(version = 3, rename = "Debited")]
                Withdrawn { amount: u64 },
                Closed,
            }
        });
        let expected = quote! {
            #[automatically_derived]
            impl ::dynago_es::DomainEvent for AccountEvent {
                fn event_type(&self) -> &'static str {
                    match self {
                        Self::Deposited { .. } => "Credited",
                        Self::Withdrawn { .. } => "Debited",
                        Self::Closed { .. } => "Closed",
                    }
                }

                fn schema_version(&self) -> u32 {
                    match self {
                        Self::Deposited { .. } => 1u32,
                        Self::Withdrawn { .. } => 3u32,
                        Self::Closed { .. } => 1u32,
                    }
                }
            }
        };
        assert_eq!(expanded, expected.to_string());
    }

    #[test]
    fn a_struct_is_one_event_type() {
        let plain = expand(parse_quote! {
            struct Deposited { amount: u64 }
        });
        let expected = quote! {
            #[automatically_derived]
            impl ::dynago_es::DomainEvent for Deposited {
                fn event_type(&self) -> &'static str {
                    "Deposited"
                }
            }
        };
        assert_eq!(plain, expected.to_string());

        let attributed = expand(parse_quote! {
            #[event(rename = "Credited")]
            #[event(version = 2)]
            struct Deposited(u64);
        });
        let expected = quote! {
            #[automatically_derived]
            impl ::dynago_es::DomainEvent for Deposited {
                fn event_type(&self) -> &'static str {
                    "Credited"
                }

                fn schema_version(&self) -> u32 {
                    2u32
                }
            }
        };
        assert_eq!(attributed, expected.to_string());
    }

    #[test]
    fn generics_and_raw_identifiers_are_kept() {
        let expanded = expand(parse_quote! {
            enum Event<T> where T: Clone {
                r#Moved(T),
            }
        });
        let expected = quote! {
            #[automatically_derived]
            impl<T> ::dynago_es::DomainEvent for Event<T> where T: Clone {
                fn event_type(&self) -> &'static str {
                    match self {
                        Self::r#Moved { .. } => "Moved",
                    }
                }
            }
        };
        assert_eq!(expanded, expected.to_string());
    }

    #[test]
    fn an_enum_without_variants_matches_nothing() {
        let expanded = expand(parse_quote! {
            enum Never {}
        });
        assert!(expanded.contains("match * self { }"), "{expanded}");
    }

    #[test]
    fn a_union_is_refused() {
        assert_eq!(
            errors(parse_quote! { union Bits { int: u32, float: f32 } }),
            ["`DomainEvent` cannot be derived for a union: use an enum or a struct"]
        );
    }

    #[test]
    fn unknown_and_repeated_keys_are_refused() {
        assert_eq!(
            errors(parse_quote! {
                enum AccountEvent {
                    #[event(name = "Credited")]
                    Deposited,
                    #[event(version = 2, version = 3)]
                    Withdrawn,
                    #[event(rename = "Closed")]
                    #[event(rename = "Ended")]
                    Closed,
                }
            }),
            [
                "unknown `event` attribute `name`: expected `rename = \"...\"` or `version = N`",
                "`version` is given twice",
                "`rename` is given twice",
            ]
        );
    }

    #[test]
    fn misplaced_attributes_are_refused() {
        assert_eq!(
            errors(parse_quote! {
                #[event(version = 2)]
                enum AccountEvent {
                    Deposited {
                        #[event(rename = "sum")]
                        amount: u64,
                    },
                }
            }),
            [
                "`#[event(...)]` goes on each variant of an enum, not on the enum",
                "`#[event(...)]` goes on a struct or a variant, not on a field",
            ]
        );
    }

    #[test]
    fn empty_names_and_versions_out_of_range_are_refused() {
        assert_eq!(
            errors(parse_quote! {
                enum AccountEvent {
                    #[event(rename = "")]
                    Deposited,
                    #[event(version = 0)]
                    Withdrawn,
                    #[event(version = 4294967296)]
                    Closed,
                    #[event(version = "2")]
                    Reopened,
                }
            }),
            [
                "an event type name cannot be empty",
                "schema versions start at 1",
                "number too large to fit in target type",
                "expected integer literal",
            ]
        );
    }

    #[test]
    fn variants_sharing_a_name_are_refused() {
        assert_eq!(
            errors(parse_quote! {
                enum AccountEvent {
                    Credited { amount: u64 },
                    #[event(rename = "Credited")]
                    Deposited { amount: u64 },
                    #[event(rename = "Credited")]
                    Refunded { amount: u64 },
                }
            }),
            [
                "variants `Credited` and `Deposited` have the same event type name `Credited`: \
                 their events could not be told apart when read",
                "variants `Credited` and `Refunded` have the same event type name `Credited`: \
                 their events could not be told apart when read",
            ]
        );
    }
}
