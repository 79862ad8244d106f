//! The triage taxonomy: categories, departments and per-jurisdiction routing, loaded from TOML.
//!
//! ```toml
//! name = "city"
//! [[categories]]
//! code = "noise_social"
//! name = "生活与商业噪声"
//! description = "广场舞、商铺音响、装修等生活和经营噪声；工地施工噪声归 noise_construction"
//! phrases = ["广场舞音响太吵", "楼上装修噪音"]   # typical phrasings (cold-start pseudo-documents)
//! default_department = "public_security"
//! [[departments]]
//! code = "public_security"
//! name = "公安局"
//! [routing."福州市"]          # overrides: category code → department code
//! road_facility = "water_resources"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// One category of the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub code: String,
    pub name: String,
    /// What belongs here and the nearest categories it is not, as a labelling guideline says it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Short typical phrasings a caller or call-taker would use: pseudo-documents or a prior so a
    /// category with few labelled rows is still recognised. Each must be non-empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phrases: Vec<String>,
    /// Department code handling this category unless a jurisdiction overrides it; may be empty.
    #[serde(default)]
    pub default_department: String,
}

/// One department of the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TaxonomyFile {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    categories: Vec<Category>,
    #[serde(default)]
    departments: Vec<Department>,
    #[serde(default)]
    routing: BTreeMap<String, BTreeMap<String, String>>,
}

/// Categories, departments and routing, with lookups by code.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    file: TaxonomyFile,
    cat_index: HashMap<String, usize>,
    dep_index: HashMap<String, usize>,
}

impl Taxonomy {
    /// Reads and validates a taxonomy TOML file.
    pub fn load(path: &Path) -> Result<Taxonomy, ModelError> {
        let s = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        Taxonomy::parse(&s).map_err(|e| ModelError::Taxonomy(format!("{}: {e}", path.display())))
    }

    /// Parses and validates taxonomy TOML: unique codes, non-empty phrases, and every default
    /// department and routing entry must name a known category and department.
    pub fn parse(toml_text: &str) -> Result<Taxonomy, ModelError> {
        let file: TaxonomyFile =
            toml::from_str(toml_text).map_err(|e| ModelError::Taxonomy(e.to_string()))?;
        Taxonomy::from_file(file)
    }

    /// A taxonomy made of bare codes (name = code), used when training on labels found in data.
    pub fn from_codes(name: &str, categories: &[String], departments: &[String]) -> Taxonomy {
        let file = TaxonomyFile {
            name: name.to_string(),
            version: String::new(),
            categories: categories
                .iter()
                .map(|c| Category {
                    code: c.clone(),
                    name: c.clone(),
                    description: String::new(),
                    phrases: Vec::new(),
                    default_department: String::new(),
                })
                .collect(),
            departments: departments
                .iter()
                .map(|d| Department {
                    code: d.clone(),
                    name: d.clone(),
                })
                .collect(),
            routing: BTreeMap::new(),
        };
        Taxonomy::from_file(file).expect("codes are unique")
    }

    fn from_file(file: TaxonomyFile) -> Result<Taxonomy, ModelError> {
        let mut cat_index = HashMap::new();
        for (i, c) in file.categories.iter().enumerate() {
            if c.code.is_empty() {
                return Err(ModelError::Taxonomy(format!(
                    "category #{} has an empty code",
                    i + 1
                )));
            }
            if cat_index.insert(c.code.clone(), i).is_some() {
                return Err(ModelError::Taxonomy(format!(
                    "duplicate category code {:?}",
                    c.code
                )));
            }
            if let Some(j) = c.phrases.iter().position(|p| p.trim().is_empty()) {
                return Err(ModelError::Taxonomy(format!(
                    "category {:?}: phrase #{} is empty",
                    c.code,
                    j + 1
                )));
            }
        }
        let mut dep_index = HashMap::new();
        for (i, d) in file.departments.iter().enumerate() {
            if d.code.is_empty() {
                return Err(ModelError::Taxonomy(format!(
                    "department #{} has an empty code",
                    i + 1
                )));
            }
            if dep_index.insert(d.code.clone(), i).is_some() {
                return Err(ModelError::Taxonomy(format!(
                    "duplicate department code {:?}",
                    d.code
                )));
            }
        }
        for c in &file.categories {
            if !c.default_department.is_empty() && !dep_index.contains_key(&c.default_department) {
                return Err(ModelError::Taxonomy(format!(
                    "category {:?}: unknown default department {:?}",
                    c.code, c.default_department
                )));
            }
        }
        for (j, table) in &file.routing {
            for (cat, dep) in table {
                if !cat_index.contains_key(cat) {
                    return Err(ModelError::Taxonomy(format!(
                        "routing.{j}: unknown category {cat:?}"
                    )));
                }
                if !dep_index.contains_key(dep) {
                    return Err(ModelError::Taxonomy(format!(
                        "routing.{j}.{cat}: unknown department {dep:?}"
                    )));
                }
            }
        }
        Ok(Taxonomy {
            file,
            cat_index,
            dep_index,
        })
    }

    /// Serialises back to TOML (what is written next to a trained model).
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.file).expect("taxonomy serialises")
    }

    /// The taxonomy's name (e.g. "city"); may be empty.
    pub fn name(&self) -> &str {
        &self.file.name
    }

    pub fn version(&self) -> &str {
        &self.file.version
    }

    pub fn categories(&self) -> &[Category] {
        &self.file.categories
    }

    pub fn departments(&self) -> &[Department] {
        &self.file.departments
    }

    pub fn category(&self, code: &str) -> Option<&Category> {
        self.cat_index.get(code).map(|&i| &self.file.categories[i])
    }

    pub fn category_name(&self, code: &str) -> Option<&str> {
        self.category(code).map(|c| c.name.as_str())
    }

    pub fn department_name(&self, code: &str) -> Option<&str> {
        self.dep_index
            .get(code)
            .map(|&i| self.file.departments[i].name.as_str())
    }

    /// The department for `category` in `jurisdiction`: the jurisdiction's routing override if it
    /// has one, else the category's default department; "" when the category is unknown or has none.
    pub fn default_department(&self, category: &str, jurisdiction: &str) -> &str {
        if let Some(dep) = self
            .file
            .routing
            .get(jurisdiction)
            .and_then(|t| t.get(category))
        {
            return dep;
        }
        self.category(category)
            .map(|c| c.default_department.as_str())
            .unwrap_or("")
    }

    /// Jurisdictions that have routing overrides.
    pub fn routed_jurisdictions(&self) -> impl Iterator<Item = &str> {
        self.file.routing.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod phrase_tests {
    use super::*;

    const WITH_PHRASES: &str = r#"
[[categories]]
code = "noise"
name = "噪声"
description = "广场舞、音响；工地噪声不在这里"
phrases = ["广场舞太吵", "楼下音响声音大"]
[[categories]]
code = "bare"
name = "无短语"
"#;

    #[test]
    fn taxonomy_phrases_parse_and_round_trip() {
        let t = Taxonomy::parse(WITH_PHRASES).unwrap();
        assert_eq!(
            t.category("noise").unwrap().phrases,
            ["广场舞太吵", "楼下音响声音大"]
        );
        assert!(t.category("bare").unwrap().phrases.is_empty());
        let text = t.to_toml();
        assert!(text.contains("phrases"), "{text}");
        let again = Taxonomy::parse(&text).unwrap();
        assert_eq!(again.categories(), t.categories());
        // empty phrase lists are not written
        let bare = Taxonomy::parse("[[categories]]\ncode='a'\nname='A'\n").unwrap();
        assert!(!bare.to_toml().contains("phrases"));
    }

    #[test]
    fn taxonomy_empty_phrase_names_its_category() {
        let cases = [
            "[[categories]]\ncode='a'\nname='A'\n[[categories]]\ncode='b'\nname='B'\nphrases=['ok','']\n",
            "[[categories]]\ncode='b'\nname='B'\nphrases=['  ']\n",
        ];
        for text in cases {
            let err = Taxonomy::parse(text).unwrap_err().to_string();
            assert!(err.contains("\"b\"") && err.contains("empty"), "{err}");
        }
    }

    #[test]
    fn taxonomy_from_codes_has_no_phrases() {
        let t = Taxonomy::from_codes("x", &["a".to_string()], &["d".to_string()]);
        assert!(t.categories()[0].phrases.is_empty());
        assert!(t.categories()[0].description.is_empty());
    }
}
