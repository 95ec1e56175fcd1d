//! Resource names (`departments/{d}/serviceCategories/{c}`) in and out.
use cityserve_domain::{DepartmentId, ServiceCategoryId, ServiceStandardId, ValidationError};

const DEPARTMENTS: &str = "departments";
const CATEGORIES: &str = "serviceCategories";
const STANDARDS: &str = "serviceStandards";

fn segments<'a>(field: &str, name: &'a str, shape: &str, expect: usize) -> Result<Vec<&'a str>, ValidationError> {
    let parts: Vec<&str> = name.split('/').collect();
    if name.is_empty() {
        return Err(ValidationError::one(field, format!("is required ({shape})")));
    }
    if parts.len() != expect {
        return Err(ValidationError::one(field, format!("must have the form {shape}")));
    }
    Ok(parts)
}

/// Parses `departments/{department}`.
pub fn department(field: &str, name: &str) -> Result<DepartmentId, ValidationError> {
    let shape = "departments/{department}";
    let p = segments(field, name, shape, 2)?;
    if p[0] != DEPARTMENTS {
        return Err(ValidationError::one(field, format!("must have the form {shape}")));
    }
    DepartmentId::parse(field, p[1])
}

/// Parses `departments/{department}/{collection}/{id}`.
fn child<'a>(field: &str, name: &'a str, collection: &str) -> Result<(DepartmentId, &'a str), ValidationError> {
    let shape = format!("departments/{{department}}/{collection}/{{id}}");
    let p = segments(field, name, &shape, 4)?;
    if p[0] != DEPARTMENTS || p[2] != collection {
        return Err(ValidationError::one(field, format!("must have the form {shape}")));
    }
    Ok((DepartmentId::parse(field, p[1])?, p[3]))
}

/// Parses `departments/{department}/serviceCategories/{service_category}`.
pub fn category(field: &str, name: &str) -> Result<(DepartmentId, ServiceCategoryId), ValidationError> {
    let (d, id) = child(field, name, CATEGORIES)?;
    Ok((d, ServiceCategoryId::parse(field, id)?))
}

/// Parses `departments/{department}/serviceStandards/{service_standard}`.
pub fn standard(field: &str, name: &str) -> Result<(DepartmentId, ServiceStandardId), ValidationError> {
    let (d, id) = child(field, name, STANDARDS)?;
    Ok((d, ServiceStandardId::parse(field, id)?))
}

// Formatting lives in `cityserve_store::resource`, so audit records and events carry exactly the
// names the API hands out.
pub use cityserve_store::resource::{
    category as category_name, department as department_name, standard as standard_name,
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_rejects_malformed_names() {
        let d = department("name", "departments/streets").unwrap();
        assert_eq!(department_name(&d), "departments/streets");
        let (d, c) = category("name", "departments/streets/serviceCategories/pothole").unwrap();
        assert_eq!(category_name(&d, &c), "departments/streets/serviceCategories/pothole");
        let (d, s) = standard("name", "departments/streets/serviceStandards/fast").unwrap();
        assert_eq!(standard_name(&d, &s), "departments/streets/serviceStandards/fast");
        for bad in ["", "streets", "departments/", "departments/Streets", "dept/streets", "departments/streets/x"] {
            assert_eq!(department("name", bad).unwrap_err().violations[0].field, "name", "{bad}");
        }
        assert!(category("parent", "departments/streets/serviceStandards/pothole").is_err());
    }
}
