"""A deterministic generator of realistic prompt libraries for the benchmarks.

Prompts read like the ones people keep: a role, a task, guidelines, template variables and an
output format, ~200 words each. Words are drawn so that search selectivity is realistic: a few
words appear in most prompts (write, clear, format...), category words in ~10% of prompts, topic
words in ~1%, and made-up product and team names in a handful each (the long tail).

    python bench/corpus.py 1000          # prints the first prompt and the average length
"""
from __future__ import annotations

import bisect
import hashlib
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
SEED = 7
FORMAT = "promptmgr-library"

# category -> (weight, tags, roles, artifacts, vocabulary, {topic: words})
CATEGORIES: dict[str, tuple] = {
    "coding": (20, "code programming review debugging refactoring testing",
               "senior software engineer|staff engineer|code reviewer|security auditor|python expert",
               "function|pull request|unit test|module|bug report|commit message|api endpoint|migration",
               ("code function class method variable compiler runtime exception stack trace repository branch "
                "commit merge dependency library framework interface module syntax algorithm complexity "
                "performance memory thread async callback parser linter formatter typing refactor"),
               {"python": "python pandas asyncio decorator generator pytest virtualenv pip typing dataclass",
                "javascript": "javascript typescript react node npm promise webpack eslint jsx closure",
                "rust": "rust cargo borrow lifetime trait ownership crate tokio unsafe clippy",
                "sql": "sql query index join postgres sqlite transaction schema normalization explain",
                "security": "security injection xss csrf authentication authorization secrets vulnerability owasp sanitize",
                "devops": "docker kubernetes terraform pipeline deployment helm container ansible nginx observability",
                "testing": "regression fixture mock coverage integration flaky assertion snapshot hypothesis fuzzing",
                "api": "rest graphql endpoint pagination versioning openapi webhook idempotency ratelimit grpc",
                "go": "golang goroutine channel interface gofmt mutex context defer slice struct",
                "java": "java spring maven gradle jvm hibernate annotation servlet garbage bytecode",
                "shell": "bash shell grep awk sed cron pipe stdin script posix",
                "mobile": "android kotlin swift ios xcode gradle jetpack swiftui viewmodel gesture"}),
    "writing": (15, "writing editing copywriting storytelling grammar blog",
                "professional editor|copywriter|ghostwriter|novelist|technical writer",
                "blog post|essay|short story|newsletter|speech|cover letter|press release|poem",
                ("tone voice paragraph sentence headline draft outline narrative audience style clarity "
                 "grammar punctuation vocabulary metaphor rhythm structure introduction conclusion edit "
                 "rewrite proofread concise readable engaging persuasive"),
                {"fiction": "character plot dialogue protagonist villain scene chapter suspense worldbuilding twist",
                 "poetry": "poem stanza rhyme meter haiku sonnet imagery verse alliteration lyric",
                 "business": "memo proposal executive summary stakeholder briefing quarterly report agenda minutes",
                 "academic": "thesis citation abstract literature argument hypothesis methodology peer journal footnote",
                 "screenwriting": "screenplay scene slugline logline montage voiceover treatment beat act",
                 "journalism": "reporter interview lede headline source factcheck byline editorial investigative deadline",
                 "speeches": "speech toast eulogy keynote audience applause anecdote podium rhetoric commencement",
                 "letters": "letter apology thankyou resignation recommendation complaint invitation condolence",
                 "editing": "proofreading passive redundancy wordiness jargon consistency styleguide typo hyphen",
                 "seo": "keyword ranking metadescription backlink snippet search serp slug intent"}),
    "marketing": (12, "marketing sales advertising social seo branding",
                  "growth marketer|brand strategist|social media manager|sales coach|campaign manager",
                  "ad copy|landing page|email campaign|tagline|product description|social post|case study",
                  ("campaign audience brand conversion funnel customer product launch message offer "
                   "positioning segment persona engagement retention channel budget analytics growth "
                   "awareness value proposition competitor pricing promotion"),
                  {"email": "newsletter subject open rate unsubscribe drip sequence preheader nurture",
                   "social": "twitter linkedin instagram tiktok hashtag caption influencer viral thread reel",
                   "ads": "adwords facebook cpc ctr impression retargeting creative bidding audience headline",
                   "ecommerce": "shopify cart checkout discount coupon abandoned upsell bundle sku inventory",
                   "branding": "logo identity mission slogan values personality manifesto rebrand palette",
                   "sales": "prospect outreach coldcall objection pipeline demo quota closing discovery crm",
                   "b2b": "enterprise saas procurement champion whitepaper webinar account abm lead",
                   "events": "conference booth sponsor attendee webinar meetup registration keynote swag",
                   "pr": "press journalist announcement embargo media coverage spokesperson crisis statement",
                   "content": "editorial calendar pillar evergreen repurpose ebook infographic podcast video"}),
    "data": (10, "data analysis statistics sql visualization spreadsheet",
             "data analyst|data scientist|statistician|analytics engineer|bi developer",
             "analysis|dashboard|report|sql query|chart|forecast|data dictionary|notebook",
             ("data dataset column row metric trend average median distribution outlier correlation "
              "regression sample variance chart table aggregate filter pivot cohort forecast "
              "visualization insight anomaly baseline"),
             {"spreadsheets": "excel spreadsheet formula vlookup pivot cell macro sheet xlookup conditional",
              "statistics": "pvalue confidence interval significance bayesian hypothesis ttest anova bootstrap",
              "ml": "model training feature overfitting validation gradient classifier embedding clustering precision",
              "visualization": "chart histogram scatter heatmap axis legend tableau matplotlib plotly colormap",
              "etl": "pipeline airflow warehouse snowflake bigquery dbt ingestion schema partition lineage",
              "experiments": "abtest variant control uplift power randomization guardrail lift holdout",
              "finance_data": "revenue churn ltv cac arr mrr cohort retention unit economics",
              "timeseries": "seasonality arima smoothing lag rolling window stationarity decomposition prophet",
              "cleaning": "missing duplicate imputation normalization outliers typo encoding deduplicate validation"}),
    "education": (8, "education teaching learning tutoring quiz",
                  "patient tutor|teacher|curriculum designer|professor|learning coach",
                  "lesson plan|quiz|flashcards|study guide|explanation|rubric|worksheet",
                  ("student lesson learn teach explain concept example exercise practice quiz grade level "
                   "curriculum understanding feedback question answer skill beginner advanced knowledge"),
                  {"math": "algebra geometry calculus fraction equation theorem proof derivative integral probability",
                   "science": "physics chemistry biology experiment molecule cell energy photosynthesis atom gravity",
                   "history": "history war revolution empire timeline century ancient medieval civilization treaty",
                   "languages": "spanish french german vocabulary conjugation pronunciation grammar fluency idiom tense",
                   "kids": "children kindergarten storytime phonics counting colors playful simple rhyme",
                   "exam": "exam sat gre flashcard revision mnemonic spaced repetition mock",
                   "coding_edu": "beginner loop variable scratch tutorial exercise debugging concept",
                   "literature": "novel shakespeare theme symbolism character analysis poetry essay"}),
    "support": (8, "support customer service helpdesk faq",
                "customer support agent|support lead|community manager|success manager|help desk technician",
                "reply|faq|macro|knowledge base article|escalation note|apology email",
                ("customer ticket issue refund account order problem resolve empathy policy response "
                 "escalate troubleshoot request complaint satisfaction delay shipping subscription "
                 "password billing"),
                {"billing": "invoice charge refund payment card subscription proration receipt dispute",
                 "technical": "error crash login reset bug workaround reinstall cache browser outage",
                 "shipping": "package tracking courier delivery lost damaged return warehouse customs",
                 "saas_support": "onboarding seat workspace integration sso permission upgrade downgrade trial",
                 "complaints": "angry frustrated apology compensation deescalate tone calm acknowledge",
                 "telecom": "router wifi signal modem bandwidth roaming sim contract coverage",
                 "travel": "booking flight hotel cancellation itinerary baggage visa reservation"}),
    "research": (8, "research summarization analysis academic literature",
                 "research assistant|analyst|scientist|fact checker|literature reviewer",
                 "literature review|summary|research plan|critique|annotated bibliography",
                 ("research paper study source evidence claim summary finding method result limitation "
                  "conclusion citation review survey compare evaluate synthesize question"),
                 {"medicine": "clinical trial patient diagnosis treatment symptom dosage placebo cohort epidemiology",
                  "climate": "climate emissions carbon warming renewable policy adaptation biodiversity",
                  "economics": "inflation gdp market monetary fiscal unemployment elasticity tariff",
                  "psychology": "behavior cognitive bias memory motivation experiment participant survey",
                  "ai_research": "transformer benchmark llm finetuning alignment dataset evaluation attention",
                  "law_research": "case precedent statute ruling jurisdiction court opinion",
                  "market_research": "survey respondent interview persona competitor trend segment sizing"}),
    "productivity": (7, "productivity planning meetings email organization",
                     "executive assistant|project manager|productivity coach|chief of staff|scrum master",
                     "agenda|action items|weekly plan|status update|checklist|email reply|retrospective",
                     ("task plan meeting schedule priority deadline goal project team calendar email "
                      "note summary decision action owner status blocker progress week"),
                     {"meetings": "agenda minutes attendee standup retro decision followup recap",
                      "planning": "roadmap milestone okr quarter sprint backlog estimate dependency",
                      "email_mgmt": "inbox reply triage draft followup polite decline request",
                      "personal": "habit routine journal reflection focus pomodoro wellbeing sleep",
                      "hiring": "interview candidate resume job description scorecard onboarding offer",
                      "management": "feedback oneonone performance delegation coaching conflict morale"}),
    "design": (6, "design ux ui creative image",
               "product designer|ux researcher|art director|illustrator|prompt artist",
               "wireframe|design brief|user flow|style guide|image prompt|persona",
               ("design user interface layout color typography component prototype usability "
                "accessibility visual style brand mockup feedback iteration"),
               {"ux": "usability interview journey persona wireframe heuristic friction onboarding",
                "ui": "button modal navigation grid spacing responsive dark mode icon",
                "image_gen": "midjourney stable diffusion photorealistic lighting lens cinematic portrait render",
                "illustration": "watercolor sketch vector cartoon character mascot lineart",
                "accessibility": "contrast screenreader aria keyboard caption wcag alt",
                "product": "feature roadmap requirement spec mvp prioritization tradeoff"}),
    "legal_finance": (6, "legal finance contracts compliance accounting",
                      "paralegal|contract lawyer|compliance officer|accountant|financial advisor",
                      "contract summary|clause|policy|budget|financial report|risk assessment",
                      ("contract clause party agreement term obligation liability risk compliance "
                       "regulation policy budget cost expense income tax audit invoice"),
                      {"contracts": "nda indemnity termination warranty jurisdiction arbitration breach",
                       "privacy": "gdpr ccpa consent processor controller retention dpa cookie",
                       "tax": "deduction vat filing irs depreciation payroll withholding",
                       "personal_finance": "savings budget mortgage retirement investment debt emergency fund",
                       "accounting": "ledger balance sheet reconciliation accrual journal entry cashflow",
                       "corporate": "shareholder board equity vesting cap table merger acquisition"}),
}

# Everyday words, most frequent first (drawn with a Zipf law): some appear in most prompts.
ADJECTIVES = ("clear short specific simple important concise accurate complete brief structured friendly "
              "professional helpful plain concrete actionable relevant consistent original final common "
              "main detailed careful neutral practical precise honest balanced polished realistic "
              "thorough creative formal informal readable memorable direct").split()
GENERAL = ("example list format user response step detail information output context answer question "
           "summary point text reader quality goal result approach section part version review "
           "feedback tone length request instruction source fact idea assumption term").split()
AUDIENCES = ("beginners|busy executives|a technical team|new customers|students|a general audience|"
             "experts|children|investors|remote teams|small business owners|developers").split("|")
TONES = "friendly|formal|concise|playful|neutral|empathetic|confident|persuasive|academic|casual".split("|")
VARIABLES = ("input", "text", "topic", "audience", "language", "code", "tone", "length", "question",
             "context", "product", "name", "document", "data", "goal", "examples", "company", "style")

_SYLLABLES = ("ka ve lo tri qua zen mor fi ra dex nu pol sa ten vi bro cal dor ex gal hy ion jun "
              "lux mi nov or pex quo rin sol tor ul vas wen xi yor zu").split()

_SENTENCES = (
    "Make sure the {N} stays {A} and {A2}.",
    "Use {A} language and keep every {N} {A2}.",
    "If the {N} is unclear, ask one {A} question before you {V}.",
    "Always {V} the {T} before you {V2} the {N}.",
    "Focus on the {T} and the {T2}, and leave out anything that is not {A}.",
    "Explain each {N} with a {A} example about {T}.",
    "Point out any {T} that could confuse {AUD}.",
    "Do not invent {N} or {T}; say so when the {N2} does not cover it.",
    "Prefer {A} wording over {A2} wording, and {V} only what matters for {T}.",
    "Keep the {T} consistent with the {C} and the {C2}.",
    "When you mention the {T}, add a {A} note on {T2}.",
    "Group related {N} together and {V} the most {A} first.",
    "Check that the {C} and the {T} match the {N}.",
    "End with a {A} {N} that the reader can act on.",
    "Write for {AUD} who know little about {T}.",
    "Compare the {T} with the {T2} where it helps the {N}.",
    "Mark every assumption about the {C} clearly.",
    "Flag risks around {T} and suggest a {A} fix.",
)
_NOUNS = ("answer", "point", "step", "detail", "example", "section", "summary", "result", "list",
          "question", "output", "text", "response", "information", "version", "goal")
_VERBS = ("write", "review", "check", "explain", "summarize", "improve", "list", "rewrite", "compare",
          "outline", "format", "describe", "analyze", "draft", "translate", "simplify")


def _zipf_picker(rng: random.Random, words, s: float = 1.0):
    weights = list(accumulate(1.0 / (i + 1) ** s for i in range(len(words))))
    total = weights[-1]
    return lambda: words[bisect.bisect(weights, rng.random() * total)]


class _Category:
    def __init__(self, rng, name, spec):
        weight, tags, roles, artifacts, vocab, topics = spec
        self.name, self.weight = name, weight
        self.tags, self.roles, self.artifacts = tags.split(), roles.split("|"), artifacts.split("|")
        self.words = vocab.split()
        self.topics = {t: w.split() for t, w in topics.items()}
        self.topic_names = list(self.topics)
        self.pick_word = _zipf_picker(rng, self.words, 0.8)
        self.pick_topic = _zipf_picker(rng, self.topic_names, 0.7)


class Corpus:
    """Generates prompts as entries of an export document; same seed, same prompts."""

    def __init__(self, seed: int = SEED, entities: int = 6000):
        self.rng = rng = random.Random(seed)
        self.categories = [_Category(rng, name, spec) for name, spec in CATEGORIES.items()]
        self._cat_weights = list(accumulate(c.weight for c in self.categories))
        self.pick_general = _zipf_picker(rng, GENERAL, 1.1)
        self.pick_adjective = _zipf_picker(rng, ADJECTIVES, 1.0)
        names = set()
        while len(names) < entities:
            names.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
        self.entities = sorted(names)
        rng.shuffle(self.entities)
        self.pick_entity = _zipf_picker(rng, self.entities, 0.6)
        self.base_time = datetime(2024, 1, 1, tzinfo=UTC)

    def category(self) -> _Category:
        return self.categories[bisect.bisect(self._cat_weights, self.rng.random() * self._cat_weights[-1])]

    def _sentence(self, cat: _Category, topic: list[str]) -> str:
        rng = self.rng

        def topic_word():
            return rng.choice(topic) if rng.random() < 0.6 else cat.pick_word()

        def noun():
            return rng.choice(_NOUNS) if rng.random() < 0.5 else self.pick_general()
        template = rng.choice(_SENTENCES)
        return template.format(
            N=noun(), N2=noun(), A=self.pick_adjective(), A2=self.pick_adjective(), V=rng.choice(_VERBS),
            V2=rng.choice(_VERBS), T=topic_word(), T2=topic_word(), C=cat.pick_word(), C2=cat.pick_word(),
            AUD=rng.choice(AUDIENCES),
        )

    def prompt(self, i: int) -> dict:
        """The i-th prompt of the library as an export-document entry."""
        rng = self.rng
        cat = self.category()
        topic_name = cat.pick_topic()
        topic = cat.topics[topic_name]
        focus, focus2 = rng.sample(topic, 2)
        artifact, role = rng.choice(cat.artifacts), rng.choice(cat.roles)
        verb = rng.choice(_VERBS)
        entity = self.pick_entity().capitalize() if rng.random() < 0.35 else None
        title = f"{verb.capitalize()} a {artifact} about {focus}" + (f" for {entity}" if entity else "")
        variables = rng.sample(VARIABLES, rng.choice((0, 1, 1, 2, 2, 3)))
        target = rng.randint(150, 250)
        conditional = rng.random() < 0.05
        versions = []
        for number in range(1, 1 + rng.choice((1, 1, 1, 1, 1, 1, 2, 2, 3))):
            parts = [f"You are a {role} who helps {rng.choice(AUDIENCES)} with {focus} and {focus2}."]
            if entity:
                parts.append(f"You work for {entity}, and every {artifact} must fit the {entity} style.")
            parts.append(f"Your task: {verb} a {rng.choice(TONES)} {artifact} about {focus}"
                         + (f" based on {{{{ {variables[0]} }}}}." if variables else "."))
            words = sum(len(p.split()) for p in parts)
            guidelines = []
            while words < target - 25:
                sentence = self._sentence(cat, topic)
                guidelines.append(f"- {sentence}")
                words += len(sentence.split())
            parts.append("Guidelines:\n" + "\n".join(guidelines))
            for name in variables[1:]:
                parts.append(f"{name.capitalize()}: {{{{ {name} }}}}")
            if conditional:  # some templates use jinja blocks, not only {{ name }}
                parts.append("{% if examples %}Examples to follow:\n{{ examples }}\n{% endif %}")
            parts.append(f"Output format: a {self.pick_adjective()} {rng.choice(_NOUNS)} in "
                         f"{rng.choice(('markdown', 'plain text', 'json', 'bullet points', 'a table'))}.")
            versions.append({"number": number, "content": "\n\n".join(parts),
                             "message": "Initial version" if number == 1 else f"Tighten the {rng.choice(_NOUNS)}",
                             "author": rng.choice(("ana", "ben", "chloe", "dev", "eli")),
                             "created_at": (self.base_time + timedelta(minutes=i * 5 + number)).isoformat()})
        tags = list(dict.fromkeys([cat.tags[0], topic_name.replace("_", "-")] + rng.sample(cat.tags, rng.randint(0, 2))))
        labels = {"production": len(versions)} if rng.random() < 0.3 else {}
        slug = "-".join(title.lower().replace("/", " ").split()[:6])
        return {
            "name": f"{''.join(c for c in slug if c.isalnum() or c == '-')[:80]}-{i}",
            "title": title,
            "description": f"{verb.capitalize()}s a {artifact} on {focus} and {focus2} for {rng.choice(AUDIENCES)}.",
            "category": cat.name, "tags": tags, "is_enhancement": rng.random() < 0.05,
            "visibility": "public" if rng.random() < 0.2 else "private", "kind": "text",
            "metadata": {"source": "bench"}, "labels": labels,
            "created_at": versions[0]["created_at"], "updated_at": versions[-1]["created_at"],
            "versions": versions,
        }

    def chat_prompt(self, i: int) -> dict:
        """A chat prompt: the same text split into a system and a user message."""
        entry = self.prompt(i)
        for version in entry["versions"]:
            system, _, user = version.pop("content").partition("\n\n")
            version["messages"] = [{"role": "system", "content": [{"type": "text", "text": system}]},
                                   {"role": "user", "content": [{"type": "text", "text": user}]}]
        entry["kind"] = "chat"
        return entry

    def entries(self, n: int) -> list[dict]:
        # 1 in 20 is a chat prompt.
        return [self.chat_prompt(i) if i % 20 == 19 else self.prompt(i) for i in range(n)]


def document(n: int, seed: int = SEED) -> dict:
    return {"format": FORMAT, "format_version": 1, "exported_at": "2025-01-01T00:00:00+00:00",
            "prompts": Corpus(seed).entries(n)}


def document_file(n: int, seed: int = SEED) -> Path:
    """The JSON export document of n prompts, generated once and cached under bench/out/ (the
    name holds a hash of this generator, so a change of it makes a new document)."""
    OUT.mkdir(exist_ok=True)
    version = hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:8]
    path = OUT / f"corpus-{n}-{seed}-{version}.json"
    if not path.exists():
        for stale in OUT.glob(f"corpus-{n}-{seed}*.json"):
            stale.unlink()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document(n, seed), ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    return path


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    doc = document(count)
    words = [len(v.get("content", json.dumps(v.get("messages"))).split()) for p in doc["prompts"] for v in p["versions"]]
    print(json.dumps(doc["prompts"][0], indent=1)[:3000])
    print(f"{count} prompts, {len(words)} versions, {sum(words) / len(words):.0f} words per version on average")
