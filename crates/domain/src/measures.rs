//! Validating newtypes for what a resident's feedback measures and where it happened: CSAT, NPS,
//! the text's language and coordinates. Every intake path — the API, the Open311 gateway (through
//! the API's handler), the demo city and bulk import — goes through these constructors, so the
//! same value is refused the same way everywhere, naming the field it came in.
use crate::validation::ValidationError;

/// A customer-satisfaction rating, 1 (very dissatisfied) to 5 (very satisfied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Csat(u8);

impl Csat {
    /// The rating `value` of field `field`, if it is 1-5.
    pub fn new(field: &str, value: i32) -> Result<Self, ValidationError> {
        match u8::try_from(value) {
            Ok(v @ 1..=5) => Ok(Self(v)),
            _ => Err(ValidationError::one(field, "must be between 1 and 5")),
        }
    }

    /// The rating.
    pub fn get(self) -> i32 {
        i32::from(self.0)
    }
}

/// A net-promoter answer, 0 (not at all likely to recommend) to 10 (extremely likely).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nps(u8);

impl Nps {
    /// The answer `value` of field `field`, if it is 0-10.
    pub fn new(field: &str, value: i32) -> Result<Self, ValidationError> {
        match u8::try_from(value) {
            Ok(v @ 0..=10) => Ok(Self(v)),
            _ => Err(ValidationError::one(field, "must be between 0 and 10")),
        }
    }

    /// The answer.
    pub fn get(self) -> i32 {
        i32::from(self.0)
    }
}

/// A BCP 47 language tag of the shape CityServe accepts: a 2-3 letter primary subtag and up to
/// 35 characters of 1-8 character alphanumeric subtags (`en`, `es-US`, `zh-Hant-TW`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LanguageTag(String);

impl LanguageTag {
    /// The language of text that names none.
    pub const DEFAULT: &'static str = "en";

    /// The tag `value` of field `field` (trimmed); empty means [`Self::DEFAULT`].
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        let v = value.trim();
        if v.is_empty() {
            return Ok(Self(Self::DEFAULT.to_owned()));
        }
        let mut parts = v.split('-');
        let primary = parts.next().unwrap_or_default();
        let ok = v.len() <= 35
            && (2..=3).contains(&primary.len())
            && primary.chars().all(|c| c.is_ascii_alphabetic())
            && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if ok {
            Ok(Self(v.to_owned()))
        } else {
            Err(ValidationError::one(field, "is not a BCP 47 language tag (e.g. en, es-US)"))
        }
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A point on Earth: latitude -90..90 and longitude -180..180 (WGS 84 degrees).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

impl Coordinates {
    /// The coordinates of `{field}.latitude` and `{field}.longitude`: both or neither (`None`).
    /// Every broken rule is reported, each naming its field.
    pub fn parse(field: &str, latitude: Option<f64>, longitude: Option<f64>) -> Result<Option<Self>, ValidationError> {
        let mut errors = ValidationError::default();
        match (latitude, longitude) {
            (Some(lat), Some(lon)) => {
                if !(-90.0..=90.0).contains(&lat) {
                    errors.push(format!("{field}.latitude"), "must be between -90 and 90");
                }
                if !(-180.0..=180.0).contains(&lon) {
                    errors.push(format!("{field}.longitude"), "must be between -180 and 180");
                }
                errors.into_result().map(|()| Some(Self { latitude: lat, longitude: lon }))
            }
            (None, None) => Ok(None),
            (Some(_), None) => Err(ValidationError::one(format!("{field}.longitude"), "is required with latitude")),
            (None, Some(_)) => Err(ValidationError::one(format!("{field}.latitude"), "is required with longitude")),
        }
    }

    /// Latitude in degrees.
    pub fn latitude(self) -> f64 {
        self.latitude
    }

    /// Longitude in degrees.
    pub fn longitude(self) -> f64 {
        self.longitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_keep_their_ranges() {
        assert_eq!(Csat::new("c", 5).unwrap().get(), 5);
        for bad in [0, 6, -1, i32::MAX, 256 + 3] {
            assert_eq!(Csat::new("c", bad).unwrap_err().violations[0].field, "c", "{bad}");
        }
        assert_eq!(Nps::new("n", 0).unwrap().get(), 0);
        for bad in [-1, 11, 256] {
            assert_eq!(Nps::new("n", bad).unwrap_err().violations[0].field, "n", "{bad}");
        }
    }

    #[test]
    fn language_tags_default_to_english_and_refuse_garbage() {
        assert_eq!(LanguageTag::parse("l", " ").unwrap().as_str(), "en");
        assert_eq!(LanguageTag::parse("l", "zh-Hant-TW").unwrap().into_string(), "zh-Hant-TW");
        for bad in ["english please", "e", "en-", "en_US", "a\0b", &"en-x".repeat(10)] {
            assert!(LanguageTag::parse("l", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn coordinates_come_in_pairs_within_range() {
        assert_eq!(Coordinates::parse("loc", None, None).unwrap(), None);
        let c = Coordinates::parse("loc", Some(40.7), Some(-74.0)).unwrap().unwrap();
        assert_eq!((c.latitude(), c.longitude()), (40.7, -74.0));
        let e = Coordinates::parse("loc", Some(91.0), Some(f64::NAN)).unwrap_err();
        let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["loc.latitude", "loc.longitude"]);
        assert_eq!(Coordinates::parse("loc", Some(1.0), None).unwrap_err().violations[0].field, "loc.longitude");
    }
}
