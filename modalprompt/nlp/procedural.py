"""Procedural text tasks (no files, no downloads): sentiment, science abstracts, relations.

They exist so that ``modalprompt demo`` and quick experiments have labelled text whose answer a
pre-trained model can know: real words in real sentence shapes, composed at random from word
lists, deterministic for a seed.
"""

from __future__ import annotations

import random

from modalprompt.nlp.bayesprompt.relations import RelationExample

__all__ = [
    "procedural_sentiment",
    "SCIENCE_FIELDS",
    "procedural_abstracts",
    "RELATIONS",
    "procedural_relations",
]

_POSITIVE = (
    "wonderful", "delightful", "moving", "brilliant", "charming", "gripping", "superb", "warm",
    "clever", "beautiful", "joyful", "masterful",
)  # fmt: skip
_NEGATIVE = (
    "dreadful", "tedious", "clumsy", "bland", "awful", "painful", "lifeless", "dull", "shallow",
    "messy", "annoying", "forgettable",
)  # fmt: skip
_SUBJECTS = ("the film", "the story", "the acting", "the script", "this movie", "the ending")
_FILLERS = (
    "i saw it on a rainy sunday", "the cinema was half empty", "it runs about two hours",
    "my friend picked the seats", "the trailer came out last spring", "",
)  # fmt: skip


def procedural_sentiment(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """``n`` (sentence, label) pairs, label 1 = positive; a negation flips the adjective."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = i % 2
        negate = rng.random() < 0.3
        polar = label if not negate else 1 - label  # "not dull" is positive
        adjective = rng.choice(_POSITIVE if polar else _NEGATIVE)
        verb = "was not" if negate else "was"
        filler = rng.choice(_FILLERS)
        text = f"{rng.choice(_SUBJECTS)} {verb} {adjective}"
        text = f"{filler}, and {text}" if filler and rng.random() < 0.5 else text
        out.append((text + ".", label))
    rng.shuffle(out)
    return out


#: field name -> (topic phrases abstracts are written from, knowledgeable label terms with
#: relevance scores, best first: what SciPrompt retrieves and scores for a class)
SCIENCE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, float], ...]]] = {
    "biology": (
        ("gene expression", "protein folding", "cell division", "enzyme activity",
         "tissue samples", "mutations in yeast", "immune cells", "bacterial growth"),
        (("biology", 1.0), ("genetics", 0.9), ("biochemistry", 0.85), ("molecular biology", 0.8),
         ("cell biology", 0.8), ("genomics", 0.7), ("microbiology", 0.7)),
    ),
    "astronomy": (
        ("distant galaxies", "star formation", "telescope observations", "planetary orbits",
         "supernova remnants", "dark matter halos", "exoplanet transits", "solar flares"),
        (("astronomy", 1.0), ("astrophysics", 0.95), ("cosmology", 0.8),
         ("planetary science", 0.75), ("space science", 0.7), ("physics", 0.5)),
    ),
    "chemistry": (
        ("organic molecules", "reaction rates", "metal catalysts", "polar solvents",
         "polymer chains", "crystal structures", "oxidation states", "acid strength"),
        (("chemistry", 1.0), ("organic chemistry", 0.9), ("physical chemistry", 0.8),
         ("materials science", 0.7), ("catalysis", 0.7), ("biochemistry", 0.4)),
    ),
    "computer science": (
        ("sorting algorithms", "neural network training", "compiler optimisations",
         "database queries", "distributed systems", "software bugs", "graph algorithms",
         "language models"),
        (("computer science", 1.0), ("machine learning", 0.9), ("software engineering", 0.8),
         ("artificial intelligence", 0.8), ("algorithms", 0.75), ("computing", 0.7)),
    ),
    "economics": (
        ("inflation rates", "labour markets", "trade policy", "household income",
         "interest rates", "stock prices", "tax reforms", "consumer demand"),
        (("economics", 1.0), ("finance", 0.85), ("macroeconomics", 0.85),
         ("econometrics", 0.7), ("public policy", 0.6), ("business", 0.5)),
    ),
    "medicine": (
        ("patients with diabetes", "a clinical trial", "heart surgery", "cancer therapy",
         "hospital admissions", "vaccine doses", "blood pressure", "chronic pain"),
        (("medicine", 1.0), ("clinical medicine", 0.9), ("oncology", 0.75),
         ("cardiology", 0.75), ("public health", 0.7), ("pharmacology", 0.7)),
    ),
    "physics": (
        ("quantum states", "laser pulses", "superconductors", "particle collisions",
         "magnetic fields", "thermal noise", "optical fibres", "plasma waves"),
        (("physics", 1.0), ("quantum physics", 0.9), ("optics", 0.8),
         ("condensed matter", 0.75), ("particle physics", 0.75), ("engineering", 0.4)),
    ),
    "psychology": (
        ("working memory", "child development", "anxiety symptoms", "decision making",
         "personality traits", "social behaviour", "sleep and mood", "attention span"),
        (("psychology", 1.0), ("cognitive science", 0.9), ("neuroscience", 0.75),
         ("psychiatry", 0.7), ("behavioural science", 0.7), ("education", 0.5)),
    ),
}  # fmt: skip

_ABSTRACT_SHAPES = (  # one topic phrase each: the field has to be inferred from it
    "We study {a}. Our results show a clear effect over a period of two years.",
    "This paper examines {a} with a new method and finds a strong, consistent pattern.",
    "We present a model of {a}. Experiments confirm its main predictions.",
    "Little is known about {a}. We collect new measurements and compare them to prior work.",
)


def procedural_abstracts(n: int, seed: int = 0) -> list[dict]:
    """``n`` short abstracts, dicts ``{"text_a", "label"}`` (label = index in
    :data:`SCIENCE_FIELDS`), classes in turn."""
    rng = random.Random(seed)
    fields = list(SCIENCE_FIELDS.values())
    out = []
    for i in range(n):
        label = i % len(fields)
        phrase = rng.choice(fields[label][0])
        out.append({"text_a": rng.choice(_ABSTRACT_SHAPES).format(a=phrase), "label": label})
    return out


_PEOPLE = ("Alice Moreau", "Kenji Sato", "Maria Silva", "Tom Becker", "Aisha Khan", "Lars Berg")
_CITIES = ("Lyon", "Osaka", "Porto", "Bremen", "Lahore", "Bergen", "Quito", "Perth")
_COMPANIES = ("Nordwind", "Acme Labs", "Bluefield", "Orion Foods", "Kestrel Bank")

#: relation -> sentence shapes; {s} is the subject, {o} the object
RELATIONS: dict[str, tuple[tuple[str, tuple, tuple], ...]] = {
    "born_in": (
        ("{s} was born in {o} .", _PEOPLE, _CITIES),
        ("{s} , a native of {o} , spoke first .", _PEOPLE, _CITIES),
    ),
    "works_for": (
        ("{s} works for {o} .", _PEOPLE, _COMPANIES),
        ("{s} joined {o} as an engineer .", _PEOPLE, _COMPANIES),
    ),
    "headquartered_in": (
        ("{s} is based in {o} .", _COMPANIES, _CITIES),
        ("the head office of {s} is in {o} .", _COMPANIES, _CITIES),
    ),
    "founded": (
        ("{s} founded {o} .", _PEOPLE, _COMPANIES),
        ("{o} was started by {s} .", _PEOPLE, _COMPANIES),
    ),
    "Other": (
        ("{s} visited {o} last year .", _PEOPLE, _CITIES),
        ("{s} read about {o} in the news .", _PEOPLE, _COMPANIES),
    ),
}


def _fill(shape: str, subject: str, obj: str) -> tuple[tuple[str, ...], tuple, tuple]:
    tokens: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    for word in shape.split():
        if word in ("{s}", "{o}"):
            entity = (subject if word == "{s}" else obj).split()
            spans[word] = (len(tokens), len(tokens) + len(entity))
            tokens.extend(entity)
        else:
            tokens.append(word)
    return tuple(tokens), spans["{s}"], spans["{o}"]


def procedural_relations(n: int, seed: int = 0) -> list[RelationExample]:
    """``n`` sentences, relations of :data:`RELATIONS` in turn (``Other`` = no relation)."""
    rng = random.Random(seed)
    names = list(RELATIONS)
    out = []
    for i in range(n):
        relation = names[i % len(names)]
        shape, subjects, objects = rng.choice(RELATIONS[relation])
        tokens, subject, obj = _fill(shape, rng.choice(subjects), rng.choice(objects))
        out.append(RelationExample(tokens, subject, obj, relation))
    return out
