//! `#[derive(DomainEvent)]` for [`dynago-es`](https://docs.rs/dynago-es).
//!
//! Use it through `dynago-es`, which re-exports it under its `derive` feature
//! (on by default): `use dynago_es::DomainEvent;` brings in both the trait
//! and the derive.

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

mod expand;

/// Implements `dynago_es::DomainEvent` for an enum, one event type per
/// variant, or for a struct, one event type.
///
/// An event's type name is the name of its variant (or of the struct), and
/// its schema version is 1, unless an `#[event(...)]` attribute on the
/// variant (or on the struct) says otherwise:
///
/// - `#[event(rename = "Name")]`: the type name stored instead. Stored names
///   are data: when a variant is renamed in the code, keep its old name here.
/// - `#[event(version = N)]`: the version of the event's shape, from 1 up.
///   Raise it when the shape changes, and register an upcaster that lifts
///   the older shapes.
///
/// ```
/// use dynago_es::DomainEvent;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize, DomainEvent)]
/// enum AccountEvent {
///     Opened { owner: String },
///     /// Called `Credited` in the first release, and stored so.
///     #[event(rename = "Credited")]
///     Deposited { amount: u64 },
///     /// The third shape of a withdrawal.
///     #[event(version = 3)]
///     Withdrawn { amount: u64, reason: String },
///     Closed,
/// }
///
/// let deposit = AccountEvent::Deposited { amount: 5 };
/// assert_eq!((deposit.event_type(), deposit.schema_version()), ("Credited", 1));
/// let closing = AccountEvent::Closed;
/// assert_eq!((closing.event_type(), closing.schema_version()), ("Closed", 1));
///
/// #[derive(Debug, Clone, Serialize, Deserialize, DomainEvent)]
/// #[event(version = 2)]
/// struct Audited { by: String }
///
/// let audit = Audited { by: "ada".into() };
/// assert_eq!((audit.event_type(), audit.schema_version()), ("Audited", 2));
/// ```
///
/// Refused at compile time, with an error at the offending attribute or
/// variant: a union; a key other than `rename` and `version`, or the same
/// key twice; `#[event(...)]` on an enum itself or on a field; an empty name;
/// a version of 0; and two variants with one type name, whose events could
/// not be told apart when read:
///
/// ```compile_fail
/// # use dynago_es::DomainEvent;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Clone, Serialize, Deserialize, DomainEvent)]
/// enum AccountEvent {
///     Credited { amount: u64 },
///     #[event(rename = "Credited")]
///     Deposited { amount: u64 },
/// }
/// ```
#[proc_macro_derive(DomainEvent, attributes(event))]
pub fn derive_domain_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Each of these fails to compile; the unit tests of `expand` check the
/// messages.
///
/// A union:
///
/// ```compile_fail
/// # use dynago_es::DomainEvent;
/// #[derive(Clone, Copy, DomainEvent)]
/// union Bits { int: u32, float: f32 }
/// # impl serde::Serialize for Bits {
/// #     fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_unit() }
/// # }
/// # impl<'de> serde::Deserialize<'de> for Bits {
/// #     fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
/// #         u32::deserialize(d).map(|int| Bits { int })
/// #     }
/// # }
/// ```
///
/// An unknown key:
///
/// ```compile_fail
/// # use dynago_es::DomainEvent;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Clone, Serialize, Deserialize, DomainEvent)]
/// enum AccountEvent {
///     #[event(name = "Credited")]
///     Deposited { amount: u64 },
/// }
/// ```
///
/// An empty name:
///
/// ```compile_fail
/// # use dynago_es::DomainEvent;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Clone, Serialize, Deserialize, DomainEvent)]
/// #[event(rename = "")]
/// struct Deposited { amount: u64 }
/// ```
///
/// A version of 0:
///
/// ```compile_fail
/// # use dynago_es::DomainEvent;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Clone, Serialize, Deserialize, DomainEvent)]
/// enum AccountEvent {
///     #[event(version = 0)]
///     Deposited { amount: u64 },
/// }
/// ```
///
/// The same key twice:
///
/// ```compile_fail
/// # use dynago_es::DomainEvent;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Clone, Serialize, Deserialize, DomainEvent)]
/// #[event(version = 2)]
/// #[event(version = 3)]
/// struct Deposited { amount: u64 }
/// ```
///
/// `#[event(...)]` on an enum:
///
/// ```compile_fail
/// # use dynago_es::DomainEvent;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Clone, Serialize, Deserialize, DomainEvent)]
/// #[event(version = 2)]
/// enum AccountEvent {
///     Deposited { amount: u64 },
/// }
/// ```
///
/// `#[event(...)]` on a field:
///
/// ```compile_fail
/// # use dynago_es::DomainEvent;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Clone, Serialize, Deserialize, DomainEvent)]
/// struct Deposited {
///     #[event(rename = "sum")]
///     amount: u64,
/// }
/// ```
///
/// The same name twice, without a rename:
///
/// ```compile_fail
/// # use dynago_es::DomainEvent;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Clone, Serialize, Deserialize, DomainEvent)]
/// enum AccountEvent {
///     #[event(rename = "Withdrawn")]
///     Deposited { amount: u64 },
///     Withdrawn { amount: u64 },
/// }
/// ```
#[cfg(doctest)]
mod refused {}
