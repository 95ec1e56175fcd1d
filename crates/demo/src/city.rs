//! The demo city's departments, their categories and targets, and the mix of channels and kinds
//! its contacts are drawn from.
use cityserve_domain::{AttributeChoice, AttributeDatatype, Channel, FeedbackKind, ServiceAttribute};
use rand::Rng;
use rand::rngs::StdRng;

/// A demo department.
pub(crate) struct Dept {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) weight: u32,
    /// (category, name, keywords, complaint text)
    pub(crate) categories: &'static [(&'static str, &'static str, &'static str, &'static str)],
    /// Default targets: acknowledge, resolve (hours).
    pub(crate) targets: (i64, i64),
}

/// The categories whose complaints are public service requests (Open311 lists them whatever
/// channel they came in by): problems in the street a neighbour could report too, not a
/// resident's bill, permit or basement.
pub(crate) const PUBLIC_CATEGORIES: &[&str] = &[
    "pothole",
    "street-cut",
    "street-light",
    "snow",
    "leak",
    "vacant-property",
    "park-maintenance",
    "tree",
    "missed-collection",
    "illegal-dumping",
];

/// Water's "Fire hydrant" service: a question of every datatype, so a 311 app has a real form to
/// build (and the gateway's tests a real definition to read). Not among the categories the
/// generated history draws from: its reports come from 311 apps with their answers.
pub(crate) const HYDRANT: (&str, &str, &str) = ("water", "hydrant", "Fire hydrant open, leaking or damaged");

/// The questions of [`HYDRANT`], in form order.
pub(crate) fn hydrant_attributes() -> Vec<ServiceAttribute> {
    use AttributeDatatype as T;
    let choice = |key: &str, name: &str| AttributeChoice { key: key.into(), name: name.into() };
    let attribute = |order, code: &str, datatype, required, description: &str, hint: &str, values| ServiceAttribute {
        code: code.into(),
        datatype,
        required,
        variable: true,
        description: description.into(),
        datatype_description: hint.into(),
        order,
        values,
    };
    vec![
        ServiceAttribute {
            variable: false,
            ..attribute(
                1,
                "safety",
                T::String,
                false,
                "Keep away from an open hydrant: the water's force can knock a child over.",
                "",
                vec![],
            )
        },
        attribute(
            2,
            "state",
            T::Singlevaluelist,
            true,
            "Is the hydrant open, leaking or damaged?",
            "",
            vec![
                choice("open", "Open, water gushing"),
                choice("leaking", "Leaking"),
                choice("damaged", "Damaged, no water"),
            ],
        ),
        attribute(
            3,
            "water_going",
            T::Multivaluelist,
            false,
            "Where is the water going?",
            "all that apply",
            vec![choice("street", "Street"), choice("sidewalk", "Sidewalk"), choice("building", "Into a building")],
        ),
        attribute(
            4,
            "flow",
            T::Number,
            false,
            "About how many gallons a minute?",
            "a garden hose gives about 10",
            vec![],
        ),
        attribute(5, "since", T::Datetime, false, "Since when has it been like this?", "date and time", vec![]),
        attribute(
            6,
            "hydrant_number",
            T::String,
            false,
            "The number on the hydrant's cap, if you can see it",
            "",
            vec![],
        ),
        attribute(7, "details", T::Text, false, "Anything else the crew should know?", "", vec![]),
    ]
}

/// The seven departments.
pub(crate) const CITY: &[Dept] = &[
    Dept {
        id: "streets",
        name: "Streets Department",
        weight: 22,
        categories: &[
            ("pothole", "Pothole", "road,hole,asphalt", "Pothole on the corner is getting deeper every day"),
            (
                "street-cut",
                "Street cut not restored",
                "trench,cut,excavation",
                "The street cut outside my house was left open",
            ),
            (
                "street-light",
                "Street light out",
                "light,lamp,dark",
                "The street light on my block has been out for a week",
            ),
            ("snow", "Snow removal", "snow,plow,ice", "My street was never plowed after the storm"),
        ],
        targets: (24, 240),
    },
    Dept {
        id: "water",
        name: "Water Department",
        weight: 18,
        categories: &[
            (
                "leak",
                "Water main or hydrant leak",
                "leak,hydrant,main",
                "Water has been running down the street since Monday",
            ),
            (
                "water-bill",
                "Water bill question",
                "bill,charge,meter",
                "My water bill doubled and nobody can tell me why",
            ),
            ("sewer", "Sewer backup", "sewer,drain,backup", "The sewer backed up into my basement"),
        ],
        targets: (8, 120),
    },
    Dept {
        id: "licenses-inspections",
        name: "Licenses & Inspections",
        weight: 12,
        categories: &[
            ("permit", "Permit application", "permit,license", "My permit application has been pending for two months"),
            (
                "vacant-property",
                "Vacant property",
                "vacant,abandoned,blight",
                "The vacant house next door is open and unsafe",
            ),
        ],
        targets: (48, 480),
    },
    Dept {
        id: "parks-recreation",
        name: "Parks & Recreation",
        weight: 10,
        categories: &[
            ("park-maintenance", "Park maintenance", "park,bench,playground", "The playground swings are broken"),
            ("tree", "Tree care", "tree,branch,root", "A large branch is hanging over the sidewalk"),
        ],
        targets: (48, 336),
    },
    Dept {
        id: "revenue",
        name: "Department of Revenue",
        weight: 12,
        categories: &[
            ("property-tax", "Property tax", "tax,assessment", "My property tax bill shows a payment I already made"),
            (
                "payment-plan",
                "Payment plan",
                "payment,installment",
                "I applied for a payment plan and heard nothing back",
            ),
        ],
        targets: (24, 240),
    },
    Dept {
        id: "sanitation",
        name: "Sanitation",
        weight: 16,
        categories: &[
            (
                "missed-collection",
                "Missed trash collection",
                "trash,collection,recycling",
                "Trash on my block was not collected this week",
            ),
            (
                "illegal-dumping",
                "Illegal dumping",
                "dumping,debris",
                "Someone dumped tires in the alley behind my house",
            ),
        ],
        targets: (24, 72),
    },
    Dept {
        id: "contact-311",
        name: "311 Contact Center",
        weight: 10,
        categories: &[(
            "general",
            "General question",
            "question,information",
            "I was transferred three times and nobody could help",
        )],
        targets: (4, 48),
    },
];

/// Channels and their weights.
pub(crate) const CHANNELS: &[(Channel, u32)] = &[
    (Channel::ThreeOneOne, 24),
    (Channel::Phone, 18),
    (Channel::Web, 18),
    (Channel::Email, 10),
    (Channel::Survey, 10),
    (Channel::InPerson, 6),
    (Channel::Social, 6),
    (Channel::CommentCard, 4),
    (Channel::Intercept, 4),
];

/// Kinds of feedback and their weights.
pub(crate) const KINDS: &[(FeedbackKind, u32)] = &[
    (FeedbackKind::Complaint, 35),
    (FeedbackKind::SurveyResponse, 25),
    (FeedbackKind::Compliment, 15),
    (FeedbackKind::Question, 15),
    (FeedbackKind::Suggestion, 10),
];

/// One of `items`, drawn by weight.
pub(crate) fn pick<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut n = rng.random_range(0..total.max(1));
    for (t, w) in items {
        if n < *w {
            return *t;
        }
        n -= w;
    }
    items[0].0
}
