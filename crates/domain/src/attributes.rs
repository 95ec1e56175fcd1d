//! Service attributes: the questions a service category asks beyond the description ("Is the
//! hydrant leaking or open?", "Which side of the street?"), as Open311 GeoReport v2 defines them,
//! and the answers a submission gives. One checker for definitions (a CSO's catalogue change) and
//! one for answers (every intake path: gRPC, Open311, batches).
use crate::validation::ValidationError;
use serde::{Deserialize, Serialize};

/// At most this many attributes per service category.
pub const MAX_ATTRIBUTES: usize = 50;
/// At most this many choices per list attribute.
pub const MAX_CHOICES: usize = 100;
/// At most this many answers per submission (declared or not).
pub const MAX_ANSWERS: usize = 50;
/// At most this many values per answer (a multiple-choice answer).
pub const MAX_ANSWER_VALUES: usize = 100;
/// At most this many characters in an attribute's code, and a choice's key.
pub const MAX_CODE_CHARS: usize = 100;
/// At most this many characters in one value of a `STRING` attribute or an undeclared answer.
pub const MAX_STRING_CHARS: usize = 1_000;
/// At most this many characters in a `TEXT` answer (the same limit as a description).
pub const MAX_TEXT_CHARS: usize = 4_000;

/// What kind of answer an attribute takes (Open311's `datatype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeDatatype {
    /// One line of text.
    String,
    /// A number (integer or decimal).
    Number,
    /// A date and time (RFC 3339 / W3C).
    Datetime,
    /// Free text over several lines.
    Text,
    /// One of the listed choices.
    Singlevaluelist,
    /// Any number of the listed choices.
    Multivaluelist,
}

impl AttributeDatatype {
    /// Open311's name of the datatype.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeDatatype::String => "string",
            AttributeDatatype::Number => "number",
            AttributeDatatype::Datetime => "datetime",
            AttributeDatatype::Text => "text",
            AttributeDatatype::Singlevaluelist => "singlevaluelist",
            AttributeDatatype::Multivaluelist => "multivaluelist",
        }
    }

    /// Whether the answers are keys of the attribute's choices.
    pub fn is_list(self) -> bool {
        matches!(self, AttributeDatatype::Singlevaluelist | AttributeDatatype::Multivaluelist)
    }
}

/// One choice of a list attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeChoice {
    /// What a client sends (`attribute[code]=key`).
    pub key: String,
    /// What a resident reads.
    pub name: String,
}

/// A question a service category asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAttribute {
    /// Unique within the category; what a client sends as `attribute[code]`.
    pub code: String,
    /// The kind of answer.
    pub datatype: AttributeDatatype,
    /// Whether a submission must answer it (only for `variable` attributes).
    pub required: bool,
    /// `false` for an informational line shown to the resident, which takes no answer.
    pub variable: bool,
    /// The question as the resident reads it.
    pub description: String,
    /// A hint on the expected answer ("e.g. 3.5").
    pub datatype_description: String,
    /// Where the question comes in the form: a positive number of its own, ascending.
    pub order: i32,
    /// The choices of a list attribute (empty otherwise).
    pub values: Vec<AttributeChoice>,
}

/// A submission's answer to one attribute (declared by its category or not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeAnswer {
    /// The attribute's code.
    pub code: String,
    /// The values: one for most datatypes, any number of keys for a multiple-choice list.
    pub values: Vec<String>,
}

fn code_ok(code: &str) -> bool {
    !code.is_empty()
        && code.chars().count() <= MAX_CODE_CHARS
        && code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn text_ok(value: &str, max: usize) -> Result<(), String> {
    if value.chars().count() > max {
        return Err(format!("at most {max} characters"));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

/// Checks a category's attribute definitions (`field` names the list, e.g.
/// `service_category.attributes`): unique codes of letters, digits, `_`, `-` and `.`; choices
/// exactly for list attributes, with unique keys; a required attribute is variable; the texts
/// trimmed and bounded; each `order` positive and used once, or 0 for "after the others" (then
/// numbered on). Returns them sorted by `order`, as forms show them.
pub fn check_definitions(field: &str, defs: &[ServiceAttribute]) -> Result<Vec<ServiceAttribute>, ValidationError> {
    let mut errors = ValidationError::default();
    if defs.len() > MAX_ATTRIBUTES {
        errors.push(field, format!("at most {MAX_ATTRIBUTES} attributes"));
        return Err(errors);
    }
    let mut out = Vec::with_capacity(defs.len());
    for (i, d) in defs.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let code = d.code.trim();
        if !code_ok(code) {
            errors.push(format!("{at}.code"), format!("must be 1-{MAX_CODE_CHARS} letters, digits, '_', '-' or '.'"));
        } else if defs[..i].iter().any(|e| e.code.trim() == code) {
            errors.push(format!("{at}.code"), format!("{code} is defined twice"));
        }
        let description =
            errors.check(crate::validation::required_text(&format!("{at}.description"), &d.description, 2_000));
        let hint = errors.check(crate::validation::optional_text(
            &format!("{at}.datatype_description"),
            &d.datatype_description,
            500,
        ));
        if d.order < 0 {
            errors.push(format!("{at}.order"), "must be positive (0: after the others, in the order listed)");
        } else if d.order > 0 && defs[..i].iter().any(|e| e.order == d.order) {
            errors.push(format!("{at}.order"), format!("{} is used twice", d.order));
        }
        if d.required && !d.variable {
            errors.push(format!("{at}.required"), "an attribute that takes no answer cannot be required");
        }
        let mut values = Vec::with_capacity(d.values.len());
        if d.datatype.is_list() {
            if d.values.is_empty() || d.values.len() > MAX_CHOICES {
                errors.push(format!("{at}.values"), format!("a list attribute needs 1-{MAX_CHOICES} choices"));
            }
            for (j, v) in d.values.iter().enumerate() {
                let key = v.key.trim();
                if !code_ok(key) {
                    errors.push(
                        format!("{at}.values[{j}].key"),
                        format!("must be 1-{MAX_CODE_CHARS} letters, digits, '_', '-' or '.'"),
                    );
                } else if d.values[..j].iter().any(|w| w.key.trim() == key) {
                    errors.push(format!("{at}.values[{j}].key"), format!("{key} is listed twice"));
                }
                if let Some(name) =
                    errors.check(crate::validation::required_text(&format!("{at}.values[{j}].name"), &v.name, 200))
                {
                    values.push(AttributeChoice { key: key.to_owned(), name });
                }
            }
        } else if !d.values.is_empty() {
            errors.push(format!("{at}.values"), "only list attributes have choices");
        }
        if let (Some(description), Some(hint)) = (description, hint) {
            out.push(ServiceAttribute {
                code: code.to_owned(),
                datatype: d.datatype,
                required: d.required,
                variable: d.variable,
                description,
                datatype_description: hint,
                order: d.order,
                values,
            });
        }
    }
    errors.into_result()?;
    // Open311 wants each attribute's order a positive integer of its own: an unset one (0) takes
    // the next after the highest, in the order listed.
    let mut next = out.iter().map(|d| d.order).max().unwrap_or(0);
    for d in out.iter_mut().filter(|d| d.order == 0) {
        next += 1;
        d.order = next;
    }
    out.sort_by_key(|d| d.order);
    Ok(out)
}

/// Puts a submission's answers in their stored form, before its category is known (`field` names
/// the list, e.g. `feedback.attributes`; a violation names the answer:
/// `feedback.attributes[hydrant_state]`): codes of letters, digits, `_`, `-` and `.`, each
/// answered once; values trimmed, empty ones dropped (an empty form field is no answer), and an
/// answer left with none dropped; each value at most [`MAX_TEXT_CHARS`] characters without
/// control characters but line breaks and tabs. Keeps the order sent.
pub fn normalize_answers(field: &str, answers: &[AttributeAnswer]) -> Result<Vec<AttributeAnswer>, ValidationError> {
    let mut errors = ValidationError::default();
    if answers.len() > MAX_ANSWERS {
        errors.push(field, format!("at most {MAX_ANSWERS} answers"));
        return Err(errors);
    }
    let mut out: Vec<AttributeAnswer> = Vec::with_capacity(answers.len());
    for (i, a) in answers.iter().enumerate() {
        let code = a.code.trim();
        if !code_ok(code) {
            errors.push(
                format!("{field}[{i}].code"),
                format!("must be 1-{MAX_CODE_CHARS} letters, digits, '_', '-' or '.'"),
            );
            continue;
        }
        let at = format!("{field}[{code}]");
        if answers[..i].iter().any(|o| o.code.trim() == code) {
            errors.push(at, "is answered twice");
            continue;
        }
        let values: Vec<String> = a.values.iter().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect();
        if values.len() > MAX_ANSWER_VALUES {
            errors.push(at, format!("at most {MAX_ANSWER_VALUES} values"));
            continue;
        }
        if let Some(why) = values.iter().find_map(|v| text_ok(v, MAX_TEXT_CHARS).err()) {
            errors.push(at, why);
            continue;
        }
        if !values.is_empty() {
            out.push(AttributeAnswer { code: code.to_owned(), values });
        }
    }
    errors.into_result()?;
    Ok(out)
}

/// Checks normalized answers ([`normalize_answers`]) against the attributes of the category
/// they are for (`field` as there). A required attribute must be answered; a number must parse
/// as a finite number; a date and time as RFC 3339; a string is one line of at most
/// [`MAX_STRING_CHARS`]; a list answer must be keys of the choices (one for a single-value list);
/// an answer to an attribute that takes none is refused. Answers to codes the category does not
/// define are kept as extra data (311 apps send their own), one value of at most
/// [`MAX_STRING_CHARS`] each.
pub fn check_answers(
    field: &str,
    defs: &[ServiceAttribute],
    answers: &[AttributeAnswer],
) -> Result<(), ValidationError> {
    let mut errors = ValidationError::default();
    for a in answers {
        let checked = match defs.iter().find(|d| d.code == a.code) {
            Some(def) => check_values(def, &a.values),
            None if a.values.len() > 1 => Err("an attribute the service does not define takes one value".to_owned()),
            None => a.values.iter().try_for_each(|v| text_ok(v, MAX_STRING_CHARS)),
        };
        if let Err(why) = checked {
            errors.push(format!("{field}[{}]", a.code), why);
        }
    }
    for d in defs.iter().filter(|d| d.required && d.variable) {
        if !answers.iter().any(|o| o.code == d.code) {
            errors.push(format!("{field}[{}]", d.code), "is required");
        }
    }
    errors.into_result()
}

/// The attributes a submission naming `category` answers, from a department's categories that ask
/// questions (`asking`): none when no category is named or it asks none.
pub fn of_category<'a>(
    asking: &'a [(crate::ids::ServiceCategoryId, Vec<ServiceAttribute>)],
    category: Option<&crate::ids::ServiceCategoryId>,
) -> &'a [ServiceAttribute] {
    let found = category.and_then(|c| asking.iter().find(|(id, _)| id == c));
    found.map(|(_, defs)| defs.as_slice()).unwrap_or_default()
}

fn check_values(def: &ServiceAttribute, values: &[String]) -> Result<(), String> {
    use AttributeDatatype as T;
    if !def.variable {
        return Err("takes no answer (it is information for the resident)".to_owned());
    }
    if def.datatype != T::Multivaluelist && values.len() > 1 {
        return Err("takes one value".to_owned());
    }
    for v in values {
        match def.datatype {
            T::String if v.contains(['\n', '\r']) => return Err("must be one line".to_owned()),
            T::String => text_ok(v, MAX_STRING_CHARS)?,
            T::Text => text_ok(v, MAX_TEXT_CHARS)?,
            T::Number => {
                if !v.parse::<f64>().is_ok_and(f64::is_finite) {
                    return Err(format!("must be a number, not {v:?}"));
                }
            }
            T::Datetime => {
                if chrono::DateTime::parse_from_rfc3339(v).is_err() {
                    return Err("must be a date and time such as 2026-12-04T11:30:00-05:00".to_owned());
                }
            }
            T::Singlevaluelist | T::Multivaluelist => {
                if !def.values.iter().any(|c| c.key == *v) {
                    let keys = def.values.iter().map(|c| c.key.as_str()).collect::<Vec<_>>().join(", ");
                    return Err(format!("{v:?} is not one of its choices ({keys})"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(code: &str, datatype: AttributeDatatype, required: bool, keys: &[&str]) -> ServiceAttribute {
        ServiceAttribute {
            code: code.into(),
            datatype,
            required,
            variable: true,
            description: format!("{code}?"),
            datatype_description: String::new(),
            order: 0,
            values: keys.iter().map(|k| AttributeChoice { key: (*k).into(), name: k.to_uppercase() }).collect(),
        }
    }

    fn answer(code: &str, values: &[&str]) -> AttributeAnswer {
        AttributeAnswer { code: code.into(), values: values.iter().map(|v| (*v).to_owned()).collect() }
    }

    fn hydrant() -> Vec<ServiceAttribute> {
        use AttributeDatatype as T;
        vec![
            attr("state", T::Singlevaluelist, true, &["leaking", "open"]),
            attr("sides", T::Multivaluelist, false, &["north", "south"]),
            attr("gallons", T::Number, false, &[]),
            attr("since", T::Datetime, false, &[]),
            attr("colour", T::String, false, &[]),
            attr("notes", T::Text, false, &[]),
        ]
    }

    fn fields(e: ValidationError) -> Vec<String> {
        e.violations.into_iter().map(|v| v.field).collect()
    }

    fn checked(
        defs: &[ServiceAttribute],
        answers: &[AttributeAnswer],
    ) -> Result<Vec<AttributeAnswer>, ValidationError> {
        let normal = normalize_answers("a", answers)?;
        check_answers("a", defs, &normal)?;
        Ok(normal)
    }

    #[test]
    fn every_datatype_is_checked_and_each_violation_names_its_attribute() {
        let ok = checked(
            &hydrant(),
            &[
                answer("state", &["open"]),
                answer("sides", &["north", "south"]),
                answer("gallons", &["3.5"]),
                answer("since", &["2026-12-04T11:30:00-05:00"]),
                answer("colour", &[" red "]),
                answer("notes", &["line 1\nline 2"]),
                answer("app_version", &["4.2"]),
                answer("empty", &[""]),
            ],
        )
        .unwrap();
        assert_eq!(ok.len(), 7, "the empty answer is dropped: {ok:?}");
        assert_eq!(ok[4].values, vec!["red"]);
        let bad = checked(
            &hydrant(),
            &[
                answer("sides", &["north", "west"]),
                answer("gallons", &["lots"]),
                answer("since", &["yesterday"]),
                answer("colour", &["red", "blue"]),
            ],
        )
        .unwrap_err();
        assert_eq!(fields(bad), vec!["a[sides]", "a[gallons]", "a[since]", "a[colour]", "a[state]"]);
        let wrong = checked(&hydrant(), &[answer("state", &["closed"])]).unwrap_err();
        assert!(wrong.violations[0].description.contains("leaking, open"), "{wrong:?}");
        assert_eq!(fields(checked(&hydrant(), &[answer("state", &[" "])]).unwrap_err()), vec!["a[state]"]);
    }

    #[test]
    fn informational_attributes_take_no_answer_and_undeclared_ones_are_bounded() {
        let mut defs = hydrant();
        defs[0].required = false;
        defs.push(ServiceAttribute { variable: false, ..attr("info", AttributeDatatype::String, false, &[]) });
        assert_eq!(fields(checked(&defs, &[answer("info", &["x"])]).unwrap_err()), vec!["a[info]"]);
        let long = "x".repeat(MAX_STRING_CHARS + 1);
        assert_eq!(fields(checked(&defs, &[answer("extra", &[&long])]).unwrap_err()), vec!["a[extra]"]);
        assert_eq!(fields(checked(&defs, &[answer("extra", &["1", "2"])]).unwrap_err()), vec!["a[extra]"]);
        assert_eq!(fields(checked(&defs, &[answer("bad code", &["1"])]).unwrap_err()), vec!["a[0].code"]);
        assert_eq!(fields(checked(&defs, &[answer("x", &["1"]), answer("x", &["2"])]).unwrap_err()), vec!["a[x]"]);
        assert_eq!(fields(checked(&defs, &[answer("x", &["a\u{0}b"])]).unwrap_err()), vec!["a[x]"]);
    }

    #[test]
    fn definitions_are_checked_and_sorted_as_forms_show_them() {
        use AttributeDatatype as T;
        let mut later = attr("b", T::String, false, &[]);
        later.order = 2;
        let unset = attr("c", T::Number, true, &[]);
        let mut first = attr("a", T::Number, true, &[]);
        first.order = 1;
        let sorted = check_definitions("d", &[later, unset, first]).unwrap();
        let placed: Vec<(&str, i32)> = sorted.iter().map(|d| (d.code.as_str(), d.order)).collect();
        assert_eq!(placed, vec![("a", 1), ("b", 2), ("c", 3)]);
        let mut twice = attr("e", T::String, false, &[]);
        twice.order = 2;
        let mut negative = attr("f", T::String, false, &[]);
        negative.order = -1;
        let refused = check_definitions("d", &[sorted[1].clone(), twice, negative]).unwrap_err();
        assert_eq!(fields(refused), vec!["d[1].order", "d[2].order"]);
        let bad = [
            attr("dup", T::String, false, &[]),
            attr("dup", T::String, false, &[]),
            attr("list", T::Singlevaluelist, false, &[]),
            attr("plain", T::Number, false, &["x"]),
            attr("keys", T::Multivaluelist, false, &["k", "k"]),
            ServiceAttribute { variable: false, ..attr("info", T::String, true, &[]) },
        ];
        assert_eq!(
            fields(check_definitions("d", &bad).unwrap_err()),
            vec!["d[1].code", "d[2].values", "d[3].values", "d[4].values[1].key", "d[5].required"]
        );
    }
}
