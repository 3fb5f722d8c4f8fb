//! `Deserialize` for [`ClientMetadata`], written out so that it reads each member straight into
//! its field: the derived one, because of the flattened map of other members, would buffer every
//! member of the object first. Stores decode every record they load with it.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::{with_members, ClientMetadata};

macro_rules! metadata_deserialize {
    (; $($field:ident),+ $(,)?) => {
        /// Members by name; `null` is absent, a member named twice is an error, and any other
        /// member is kept with the language-tagged members and extensions.
        impl<'de> Deserialize<'de> for ClientMetadata {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_map(MetadataVisitor)
            }
        }

        struct MetadataVisitor;

        impl<'de> Visitor<'de> for MetadataVisitor {
            type Value = ClientMetadata;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("client metadata (a JSON object)")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClientMetadata, A::Error> {
                let mut metadata = ClientMetadata::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        $(stringify!($field) => {
                            if metadata.$field.is_some() {
                                return Err(de::Error::duplicate_field(stringify!($field)));
                            }
                            metadata.$field = map.next_value()?;
                        })+
                        _ => {
                            let value: Value = map.next_value()?;
                            if metadata.other.insert(key, value).is_some() {
                                return Err(de::Error::custom("a member is named twice"));
                            }
                        }
                    }
                }
                Ok(metadata)
            }
        }
    };
}

with_members!(metadata_deserialize!());
