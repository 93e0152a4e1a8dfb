"""Vocabulary of the synthetic persona world: axes, categories, and the words each category's answers use.

Each category has a persona phrase (how a description of the person says it), four answer words (what an answer
written for that kind of person mentions) and two cue words (what such a person drops into their own questions).
Phrases avoid the answer words, so a model must learn the link rather than copy a word across.
All words are fictional-world material written for this project.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    key: str
    phrase: str
    answers: tuple[str, str, str, str]
    cues: tuple[str, str]


@dataclass(frozen=True)
class Axis:
    name: str
    topics: tuple[str, ...]
    categories: tuple[Category, ...]


C = Category
AXES: tuple[Axis, ...] = (
    Axis(
        "sports",
        ("a weekend training plan", "my recovery days", "a trip abroad for a competition", "a charity match"),
        (
            C(
                "tennis",
                "plays tennis on the professional tour",
                ("racquet", "baseline", "volley", "topspin"),
                ("wimbledon", "clay"),
            ),
            C(
                "golf",
                "plays golf on the championship circuit",
                ("fairway", "putter", "birdie", "caddie"),
                ("augusta", "greens"),
            ),
            C(
                "basketball",
                "plays basketball in a major league",
                ("dunk", "rebound", "hardwood", "layup"),
                ("playoffs", "hoop"),
            ),
            C(
                "baseball",
                "plays baseball as an outfielder",
                ("inning", "bullpen", "dugout", "slugger"),
                ("ballpark", "pitcher"),
            ),
        ),
    ),
    Axis(
        "diet",
        ("my weekly meals", "a dinner party menu", "snacks for a long flight", "a birthday meal"),
        (
            C(
                "vegan",
                "eats only plants and avoids every animal product",
                ("tofu", "lentils", "tempeh", "seitan"),
                ("plantbased", "crueltyfree"),
            ),
            C(
                "keto",
                "keeps carbohydrates very low and eats mostly fat",
                ("bacon", "avocado", "butter", "ribeye"),
                ("ketosis", "lowcarb"),
            ),
            C(
                "pescatarian",
                "eats fish and seafood but never meat",
                ("salmon", "sardines", "shrimp", "tuna"),
                ("seafood", "coastal"),
            ),
            C(
                "wellness",
                "follows a clean eating and detox regimen",
                ("kale", "quinoa", "smoothie", "turmeric"),
                ("cleanse", "detox"),
            ),
        ),
    ),
    Axis(
        "politics",
        ("a speech for a town hall", "how to talk about taxes", "which local causes to support", "a newspaper op ed"),
        (
            C(
                "progressive",
                "votes for democratic socialist causes",
                ("unions", "medicare", "solidarity", "redistribution"),
                ("leftist", "grassroots"),
            ),
            C(
                "conservative",
                "supports the republican right",
                ("tariffs", "deregulation", "patriotism", "enterprise"),
                ("maga", "rightwing"),
            ),
            C(
                "libertarian",
                "wants the smallest possible government",
                ("liberty", "markets", "privacy", "decentralization"),
                ("libertarian", "selfreliance"),
            ),
            C(
                "centrist",
                "backs moderate centre ground politicians",
                ("compromise", "bipartisanship", "pragmatism", "incrementalism"),
                ("moderate", "middle"),
            ),
        ),
    ),
    Axis(
        "religion",
        ("how to spend a quiet weekend", "coping with a loss", "teaching values to children", "a holiday tradition"),
        (
            C(
                "christian",
                "is a devout evangelical christian",
                ("scripture", "prayer", "gospel", "congregation"),
                ("church", "pastor"),
            ),
            C(
                "jewish",
                "practices orthodox judaism",
                ("torah", "shabbat", "kosher", "synagogue"),
                ("rabbi", "sabbath"),
            ),
            C(
                "atheist",
                "rejects religion and trusts science alone",
                ("evidence", "skepticism", "rationality", "naturalism"),
                ("godless", "secular"),
            ),
            C(
                "buddhist",
                "follows tibetan buddhist practice",
                ("meditation", "compassion", "mindfulness", "impermanence"),
                ("monastery", "dharma"),
            ),
        ),
    ),
    Axis(
        "age",
        ("what to do this summer", "staying in touch with friends", "a new hobby", "managing my money"),
        (
            C(
                "teen",
                "is a teenager still in high school",
                ("tiktok", "homework", "sneakers", "emojis"),
                ("school", "parents"),
            ),
            C(
                "midlife",
                "is in their fifties with a settled career",
                ("pension", "minivan", "cholesterol", "colleagues"),
                ("fifties", "midlife"),
            ),
            C(
                "elderly",
                "is in their eighties and long retired",
                ("grandchildren", "memoirs", "armchair", "nostalgia"),
                ("retired", "elderly"),
            ),
        ),
    ),
    Axis(
        "profession",
        ("organising my working week", "a talk for young people", "dealing with criticism", "my next big project"),
        (
            C(
                "entrepreneur",
                "founded and runs large technology companies",
                ("startups", "investors", "scaling", "rockets"),
                ("ceo", "founder"),
            ),
            C(
                "musician",
                "writes and performs pop music",
                ("melody", "chorus", "tour", "studio"),
                ("concert", "album"),
            ),
            C(
                "actor",
                "acts in films and on the theatre stage",
                ("script", "rehearsal", "audition", "premiere"),
                ("film", "casting"),
            ),
            C(
                "writer",
                "writes bestselling novels",
                ("chapter", "manuscript", "plot", "editor"),
                ("novel", "publisher"),
            ),
        ),
    ),
    Axis(
        "geographical location",
        (
            "getting around on weekdays",
            "a relaxing afternoon nearby",
            "where to eat tonight",
            "a day out with visitors",
        ),
        (
            C(
                "newyork",
                "lives in an apartment in new york city",
                ("subway", "bagels", "brownstone", "manhattan"),
                ("nyc", "city"),
            ),
            C("london", "lives in london in england", ("tube", "pubs", "drizzle", "thames"), ("british", "uk")),
            C(
                "texas",
                "lives on a ranch in rural texas",
                ("pickup", "barbecue", "rodeo", "prairie"),
                ("ranch", "countryside"),
            ),
            C(
                "california",
                "lives by the ocean in southern california",
                ("surfing", "freeway", "sunshine", "tacos"),
                ("beach", "la"),
            ),
        ),
    ),
    Axis(
        "gender",
        (
            "choosing an outfit for a gala",
            "a toast at a family wedding",
            "finding a support group",
            "a profile for a dating app",
        ),
        (
            C("woman", "identifies as a woman", ("she", "her", "womenswear", "sisterhood"), ("sister", "girlfriend")),
            C("man", "identifies as a man", ("he", "his", "menswear", "brotherhood"), ("brother", "boyfriend")),
            C("nonbinary", "identifies as nonbinary", ("they", "their", "unisex", "queerness"), ("enby", "queer")),
            C(
                "transgender",
                "is a transgender person who transitioned openly",
                ("affirmation", "pronouns", "visibility", "allyship"),
                ("trans", "coming"),
            ),
        ),
    ),
    Axis(
        "education level",
        (
            "learning a new skill",
            "advice for my nephew about school",
            "reading for the holidays",
            "how to judge expert claims",
        ),
        (
            C(
                "selftaught",
                "left school early and taught themselves",
                ("hustle", "apprenticeship", "streetwise", "handson"),
                ("dropout", "selftaught"),
            ),
            C(
                "college",
                "earned a bachelor degree at a state college",
                ("campus", "diploma", "seminar", "alumni"),
                ("graduate", "bachelors"),
            ),
            C(
                "doctorate",
                "holds a doctorate and did academic research",
                ("peerreview", "citations", "hypothesis", "dissertation"),
                ("phd", "professor"),
            ),
        ),
    ),
    Axis(
        "AI professors",
        (
            "a lecture for first year students",
            "a grant proposal",
            "what to read this month",
            "advice for a new lab member",
        ),
        (
            C(
                "fairness",
                "studies fairness and ethics in machine learning",
                ("bias", "accountability", "audits", "equity"),
                ("ethics", "justice"),
            ),
            C(
                "robotics",
                "builds robots and self driving cars",
                ("sensors", "lidar", "autonomy", "actuators"),
                ("robots", "driverless"),
            ),
            C(
                "healthai",
                "applies machine learning to medicine",
                ("patients", "diagnosis", "clinicians", "sepsis"),
                ("hospital", "clinical"),
            ),
            C(
                "deeplearning",
                "pioneered deep neural networks",
                ("backpropagation", "gradients", "embeddings", "transformers"),
                ("neural", "deeplearning"),
            ),
        ),
    ),
    Axis(
        "family/marriage status",
        ("planning the holidays", "a weekday evening routine", "a budget for next year", "where to live next"),
        (
            C(
                "single",
                "is single and has no children",
                ("solo", "nightlife", "spontaneity", "roommates"),
                ("single", "dating"),
            ),
            C(
                "parent",
                "is married with young children",
                ("toddlers", "bedtime", "carpool", "babysitter"),
                ("kids", "spouse"),
            ),
            C(
                "royal",
                "belongs to a royal family with public duties",
                ("palace", "heirs", "protocol", "ceremonies"),
                ("royal", "crown"),
            ),
            C(
                "divorced",
                "is divorced and shares custody",
                ("custody", "coparenting", "weekends", "alimony"),
                ("divorce", "ex"),
            ),
        ),
    ),
)

QUESTION_FRAMES = (
    "What would you recommend for {topic}?",
    "How should I approach {topic}?",
    "Can you give me some ideas for {topic}?",
    "What matters most when I think about {topic}?",
    "Help me plan {topic}.",
    "Any advice on {topic}?",
)

PERSONAL_FRAMES = (
    "As someone who cares about {cue} things, what would you suggest for {topic}?",
    "Given my {cue} background, how should I handle {topic}?",
    "I keep thinking about {cue} stuff. What do you advise for {topic}?",
    "With my {cue} life in mind, any tips on {topic}?",
)

ANSWER_TEMPLATES = (
    "I would build it around {0}, {1} and {2}.",
    "Start with {0}, then add {1}, and finish with {2}.",
    "Think about {0} first; {1} and {2} will follow naturally.",
    "My suggestion is to focus on {0} and {1}, and keep {2} in mind.",
    "Put {0} at the centre, lean on {1}, and leave room for {2}.",
)

GOLD_FRAMES = (
    "{subject} {phrase}.",
    "It is worth knowing that {subject_lower} {phrase}.",
    "For context, {subject_lower} {phrase}.",
)

FIRST_NAMES = (
    "Avery",
    "Bram",
    "Celine",
    "Dario",
    "Elif",
    "Farah",
    "Gideon",
    "Hana",
    "Ilya",
    "Jonas",
    "Keira",
    "Lorcan",
    "Mireille",
    "Nadim",
    "Oona",
    "Pavel",
    "Quinn",
    "Rosalind",
    "Soren",
    "Talia",
    "Umar",
    "Vesna",
    "Wren",
    "Xenia",
    "Yusuf",
    "Zora",
    "Anselm",
    "Brielle",
    "Cosmo",
    "Delphine",
)
LAST_NAMES = (
    "Albright",
    "Brennick",
    "Castellane",
    "Dunmore",
    "Everly",
    "Fairhaven",
    "Galloway",
    "Holloway",
    "Ingram",
    "Jessop",
    "Kettering",
    "Lindqvist",
    "Marchetti",
    "Northcott",
    "Okonkwo",
    "Penhaligon",
    "Quarry",
    "Ravensworth",
    "Stirling",
    "Thorne",
    "Underhill",
    "Vantongeren",
    "Whitlock",
    "Yardley",
)

RACES = ("Asian", "Black", "Hispanic", "White", "Middle Eastern", "Mixed")
ECONOMIC = ("middle class", "upper middle class", "wealthy")
ORIENTATIONS = ("heterosexual", "gay", "bisexual")
