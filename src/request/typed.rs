//! The fast path of [`RegistrationRequest::from_json`]: members read straight into their typed
//! fields, a string member or an array of strings becoming its field's value as the bytes are
//! read, with no `Value` in between; any other JSON value is read as a [`StrictValue`] within the
//! same limits and decoded as the plain path decodes it. Private to the request module; its
//! plain twin (the object read first, then [`RegistrationRequest::from_members`]) is checked
//! against it by the property tests in `request.rs`. No rule lives here: the values' own
//! `Deserialize` and the same limits decide, so a wrongly typed member is reported exactly as
//! the plain path reports it.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{decode, read_member, RegistrationRequest, Sink, StrictValue};
use crate::error::Violation;
use crate::metadata::{
    with_members, with_text_types, ApplicationType, AuthMethod, GrantType, JoseAlgorithm,
    RedirectUri, ResponseType, Scope, SubjectType,
};
use crate::policy::RequestLimits;

/// The members of a request body, read into a [`RegistrationRequest`].
pub(super) struct Fields<'a> {
    pub(super) request: &'a mut RegistrationRequest,
}

macro_rules! typed_fields {
    (; $($field:ident),+ $(,)?) => {
        impl<'de> Sink<'de> for Fields<'_> {
            fn member<A: MapAccess<'de>>(
                &mut self,
                key: Cow<'de, str>,
                access: &mut A,
                limits: &RequestLimits,
            ) -> Result<(), A::Error> {
                let request = &mut *self.request;
                match &*key {
                    $(stringify!($field) => {
                        let read = Member::read(access, limits)?;
                        request.metadata.$field = settle(&key, read, &mut request.violations);
                    })+
                    _ => {
                        let value = access.next_value_seed(StrictValue::member(limits))?;
                        read_member(request, key, value);
                    }
                }
                Ok(())
            }
        }
    };
}

with_members!(typed_fields!());

/// A member's value as read: typed (`None` for `null`), or any other JSON value.
enum Read<T> {
    Typed(Option<T>),
    Other(Value),
}

/// The field's value, or (for another JSON value) what [`decode`] makes of it, violation and all.
fn settle<T: DeserializeOwned>(
    key: &str,
    read: Read<T>,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    match read {
        Read::Typed(value) => value,
        Read::Other(value) => decode(key, value, violations),
    }
}

/// How a field's value is read from the body. The default reads a [`StrictValue`].
trait Member: DeserializeOwned {
    fn read<'de, A: MapAccess<'de>>(
        access: &mut A,
        limits: &RequestLimits,
    ) -> Result<Read<Self>, A::Error> {
        access
            .next_value_seed(StrictValue::member(limits))
            .map(Read::Other)
    }
}

impl Member for bool {}
impl Member for u64 {}
impl Member for Value {}

/// A value that is a JSON string on the wire.
trait Text: Sized {
    fn from_text(text: &str) -> Self;
    fn text(&self) -> &str;
}

macro_rules! text_members {
    ($($ty:ty => $make:path),+ $(,)?) => {
        $(
            impl Text for $ty {
                fn from_text(text: &str) -> Self {
                    $make(text)
                }

                fn text(&self) -> &str {
                    self.as_str()
                }
            }

            impl Member for $ty {
                fn read<'de, A: MapAccess<'de>>(
                    access: &mut A,
                    limits: &RequestLimits,
                ) -> Result<Read<Self>, A::Error> {
                    access.next_value_seed(TextSeed::<Self>::new(limits))
                }
            }
        )+
    };
}

text_members!(String => str::to_owned);
with_text_types!(text_members!());

impl<T: Text + DeserializeOwned> Member for Vec<T> {
    fn read<'de, A: MapAccess<'de>>(
        access: &mut A,
        limits: &RequestLimits,
    ) -> Result<Read<Self>, A::Error> {
        access.next_value_seed(ListSeed::<T>(TextSeed::new(limits)))
    }
}

/// Reads a string member; anything else as a [`StrictValue`].
struct TextSeed<'a, T> {
    strict: StrictValue<'a>,
    kind: PhantomData<T>,
}

impl<'a, T> TextSeed<'a, T> {
    fn new(limits: &'a RequestLimits) -> Self {
        Self {
            strict: StrictValue::member(limits),
            kind: PhantomData,
        }
    }
}

/// The visits every seed here answers the same way: a value of another JSON type, read as a
/// [`StrictValue`] at the seed's depth, is `Other`.
macro_rules! other_values {
    () => {
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Self::other(Value::Bool(v)))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Self::other(Value::from(v)))
        }

        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Self::other(Value::from(v)))
        }

        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Self::other(Value::from(v)))
        }

        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
            self.strict().visit_map(map).map(Self::other)
        }
    };
}

impl<'de, T: Text> DeserializeSeed<'de> for TextSeed<'_, T> {
    type Value = Read<T>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Read<T>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'a, T> TextSeed<'a, T> {
    fn other(value: Value) -> Read<T> {
        Read::Other(value)
    }

    fn strict(&self) -> StrictValue<'a> {
        self.strict
    }
}

impl<'de, T: Text> Visitor<'de> for TextSeed<'_, T> {
    type Value = Read<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Read<T>, E> {
        self.strict.check_length(v)?;
        Ok(Read::Typed(Some(T::from_text(v))))
    }

    fn visit_unit<E>(self) -> Result<Read<T>, E> {
        Ok(Read::Typed(None))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Read<T>, S::Error> {
        self.strict().visit_seq(seq).map(Self::other)
    }

    other_values!();
}

/// Reads an array of strings; anything else, or an array with any other element, as a
/// [`StrictValue`].
struct ListSeed<'a, T>(TextSeed<'a, T>);

/// One element of a list: a string, or any other value (at the element's depth).
enum Element<T> {
    Text(T),
    Other(Value),
}

impl<'de, T: Text> DeserializeSeed<'de> for ListSeed<'_, T> {
    type Value = Read<Vec<T>>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'a, T> ListSeed<'a, T> {
    fn other(value: Value) -> Read<Vec<T>> {
        Read::Other(value)
    }

    fn strict(&self) -> StrictValue<'a> {
        self.0.strict
    }
}

impl<'de, T: Text> Visitor<'de> for ListSeed<'_, T> {
    type Value = Read<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.strict().string(v).map(Self::other)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Read::Typed(None))
    }

    /// The same checks, in the same order, as [`StrictValue`]'s arrays.
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let strict = self.strict();
        strict.check_depth()?;
        let mut texts: Vec<T> = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(16));
        // Once an element is not a string, the whole array is kept as values.
        let mut values: Option<Vec<Value>> = None;
        // An element is read as a text member is, one level deeper.
        let element = || TextSeed::<T> {
            strict: strict.nested(),
            kind: PhantomData,
        };
        while let Some(item) = seq.next_element_seed(element())? {
            strict.too_many(values.as_ref().map_or(texts.len(), Vec::len))?;
            let item = match item {
                Read::Typed(Some(text)) => Element::Text(text),
                // `null` is no string: in a list, it is a wrong element.
                Read::Typed(None) => Element::Other(Value::Null),
                Read::Other(value) => Element::Other(value),
            };
            match (item, &mut values) {
                (Element::Text(text), None) => texts.push(text),
                (Element::Text(text), Some(values)) => {
                    values.push(Value::String(text.text().to_owned()));
                }
                (Element::Other(value), None) => {
                    let mut kept: Vec<Value> = texts
                        .drain(..)
                        .map(|t| Value::String(t.text().to_owned()))
                        .collect();
                    kept.push(value);
                    values = Some(kept);
                }
                (Element::Other(value), Some(values)) => values.push(value),
            }
        }
        Ok(match values {
            None => Read::Typed(Some(texts)),
            Some(values) => Read::Other(Value::Array(values)),
        })
    }

    other_values!();
}
