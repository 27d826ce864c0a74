"""The real benchmark test sets as data: one row per set, one rule per on-disk layout.

Nothing here touches the disk or imports anything heavy; :mod:`.scan` applies the rules and
:mod:`.loaders` turns a scan into a :class:`bench.datasets.base.Dataset`.

A :class:`Rule` names the files of one layout *relative to the set's own folder*:

- ``inputs``: glob(s) of the primary files (the degraded images, or the clean images of a
  clean-only set); ``*`` matches one path component; only image files count;
- ``match``: a regular expression that every primary file's relative path must match in full
  (case-insensitive; directory components are compared in the spelling of ``inputs``);
- ``target``: where the clean partner lies, a ``str.format`` template over the match's named groups
  plus ``name`` (file name), ``stem`` (name without extension) and ``ext``; ``None`` for clean-only
  sets whose degraded image is made at test time;
- ``image_id``: the id template (same fields);
- ``extras``: glob of the clean files that must all have a degraded partner (``None``: the clean
  folder is shared with other splits, e.g. HIDE's ``GT``); files that ``inputs`` also lists are skipped;
- ``exclude``: a regular expression of files listed by ``inputs`` that are not degraded images (the
  clean partners lying in the same folder, e.g. RainTrainL's ``norain-N.png``, or the other set of a
  shared folder); they are neither paired nor reported as unexpected;
- ``side``: a regular expression of known side files (masks) ignored everywhere, also by ``extras``;
- ``target_exts``: when set, ``target`` names the clean partner without its extension and the first
  of these extensions that exists is used (PromptIR's OTS ``original/ID`` is ``.jpg`` or ``.png``).

A :class:`Layout` is a rule plus the folders, relative to ``--data-root``, where that layout puts
the set (each path component is matched case-insensitively).
"""

from __future__ import annotations

from dataclasses import dataclass, field

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "bmp", "tif", "tiff")
_EXT = r"(?P<ext>png|jpe?g|bmp|tiff?)"
ANY = r"(?P<stem>[^/]+)\." + _EXT  # any image file name


@dataclass(frozen=True)
class Rule:
    inputs: tuple[str, ...]
    match: str
    target: str | None
    image_id: str = "{stem}"
    extras: str | None = None
    describe: str = ""
    exclude: str | None = None
    side: str | None = None
    target_exts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    name: str
    roots: tuple[str, ...]
    rule: Rule


@dataclass(frozen=True)
class SetSpec:
    """One registered real set: a test set (``split="test"``, the default), a task training set
    (``"train"``: degraded/clean pairs, or clean images degraded while training) or a clean corpus
    (``"corpus"``: clean images for pre-training). Only test sets can be scored or put in suites.
    ``count`` is the expected number of pairs (clean images for clean-only sets); ``None`` where the
    set has no fixed size (RESIDE OTS): then only what was found is reported.

    ``family`` names the files the set is made from (``cbsd68-s25`` reads ``cbsd68``'s clean
    images); ``--dataset-path`` accepts either the set's name or its family. ``testtime`` is the
    degradation made at load time from clean-only files (``("noise", {"sigma": 25})``,
    ``("jpeg", {"quality": 20})``, ``("bitdepth", {"bits": 4})``); ``recipe`` is a list of
    project operators applied to the degraded image of a paired family (generated mixed sets).
    """

    name: str
    task: str
    count: int | None
    degradations: tuple[str, ...]
    family: str
    layouts: tuple[Layout, ...]
    summary: str
    download: str = ""
    protocol: str = "allinone-rgb"
    testtime: tuple[str, dict] | None = None
    recipe: tuple[tuple[str, dict], ...] = ()
    suites: tuple[str, ...] = field(default=())
    split: str = "test"

    @property
    def clean_only(self) -> bool:
        return self.testtime is not None

    @property
    def is_test(self) -> bool:
        return self.split == "test"


# --- rules shared by many layouts ----------------------------------------------------------------


def io_rule(inp: str = "input", tgt: str = "target") -> Rule:
    """``input/X`` -> ``target/X`` (same file name): Restormer, PromptIR/AirNet, AdaIR, InstructIR."""
    return Rule(
        inputs=(f"{inp}/*",),
        match=f"{inp}/{ANY}",
        target=f"{tgt}/{{stem}}.{{ext}}",
        extras=f"{tgt}/*",
        describe=f"{inp}/X -> {tgt}/X",
    )


CLEAN = Rule(inputs=("*",), match=ANY, target=None, describe="clean images, degraded at test time")
IO = io_rule()

# --- per-family layouts ---------------------------------------------------------------------------


def _rain100(d: str) -> tuple[Layout, ...]:
    official = Rule(
        inputs=("rainy/*",),
        match=r"rainy/rain-(?P<n>\d+)\.png",
        target="norain-{n}.png",
        image_id="rain-{n}",
        extras="*",
        describe="rainy/rain-NNN.png -> norain-NNN.png",
    )
    rainy_gt = Rule(
        inputs=("rainy/*",),
        match=r"rainy/rain-(?P<n>\d+)\.png",
        target="gt/norain-{n}.png",
        image_id="rain-{n}",
        extras="gt/*",
        describe="rainy/rain-NNN.png -> gt/norain-NNN.png",
    )
    return (
        Layout("official-gt", (d, f"Rain100/{d}"), rainy_gt),  # tried first: needs gt/
        Layout("official", (d, f"Rain100/{d}"), official),
        Layout("restormer", (f"Deraining/Datasets/test/{d}", f"Datasets/test/{d}", f"test/{d}"), IO),
        Layout("promptir", (f"test/derain/{d}",), IO),
        Layout("adair", (f"data/test/derain/{d}",), IO),
        Layout("instructir", (f"data/Rain/rain_test/{d}", f"Rain/rain_test/{d}"), IO),
    )


def _sots() -> tuple[Layout, ...]:
    official = Rule(
        inputs=("hazy/*",),
        match=r"hazy/(?P<n>\d+)_[\d.]+_[\d.]+\.(?:jpe?g|png)",
        target="gt/{n}.png",
        image_id="{n}",
        extras="gt/*",
        describe="hazy/NNNN_A_B.jpg -> gt/NNNN.png",
    )
    io = Rule(
        inputs=("input/*",),
        match=r"input/(?P<n>\d+)_[^/]*\.(?:jpe?g|png)",
        target="target/{n}.png",
        image_id="{n}",
        extras="target/*",
        describe="input/NNNN_A_B.jpg -> target/NNNN.png (part before '_' + .png)",
    )
    in_gt = Rule(
        inputs=("IN/*",),
        match=r"IN/(?P<stem>(?P<n>\d+)[^/]*)\." + _EXT,
        target="GT/{stem}.{ext}",
        image_id="{n}",
        extras="GT/*",
        describe="IN/X -> GT/X (same name)",
    )
    return (
        Layout("official", ("SOTS/outdoor", "RESIDE/SOTS/outdoor", "SOTS-outdoor", "SOTS_outdoor"), official),
        Layout("promptir", ("test/dehaze",), io),
        Layout("adair", ("data/test/dehaze",), io),
        Layout("instructir", ("data/SOTS-OUT", "SOTS-OUT", "SOTS"), in_gt),
    )


def _clean(official: tuple[str, ...], **others: tuple[str, ...]) -> tuple[Layout, ...]:
    return (Layout("official", official, CLEAN),) + tuple(Layout(k, v, CLEAN) for k, v in others.items())


CBSD68 = _clean(
    ("CBSD68/original_png", "CBSD68-dataset/CBSD68/original_png", "CBSD68"),
    restormer=("Denoising/Datasets/test/CBSD68", "Datasets/test/CBSD68", "test/CBSD68"),
    promptir=("test/denoise/bsd68",),
    adair=("data/test/denoise/bsd68",),
    instructir=("data/denoising_testsets/CBSD68", "denoising_testsets/CBSD68"),
    kair=("testsets/CBSD68",),
)
LIVE1 = _clean(("LIVE1", "databaserelease2/refimgs"), kair=("testsets/LIVE1",))
CLASSIC5 = _clean(("classic5",), kair=("testsets/classic5",))
BSDS500 = _clean(
    ("BSR/BSDS500/data/images/test", "BSDS500/data/images/test", "BSDS500/test"), kair=("testsets/BSDS500",)
)
KODAK24 = _clean(
    ("Kodak24", "Kodak"),
    promptir=("test/denoise/kodak24",),
    adair=("data/test/denoise/kodak24",),
    instructir=("data/denoising_testsets/Kodak24", "denoising_testsets/Kodak24"),
    kair=("testsets/Kodak24",),
)

GOPRO = (
    Layout(
        "official",
        ("GOPRO_Large/test", "GoPro_Large/test", "GOPRO/test", "GoPro/test"),
        Rule(
            inputs=("*/blur/*",),
            match=r"(?P<seq>[^/]+)/blur/(?P<stem>[^/]+)\.png",
            target="{seq}/sharp/{stem}.png",
            image_id="{seq}_{stem}",
            extras="*/sharp/*",
            describe="GOPRxxxx_xx_xx/blur/NNNNNN.png -> GOPRxxxx_xx_xx/sharp/NNNNNN.png (not blur_gamma)",
        ),
    ),
    Layout(
        "restormer",
        ("Motion_Deblurring/Datasets/test/GoPro", "Datasets/test/GoPro", "test/GoPro", "GoPro/test"),
        IO,
    ),
    Layout("promptir", ("test/deblur/gopro",), IO),
    Layout("adair", ("data/test/deblur/gopro",), IO),
    Layout("instructir", ("data/gopro_test/GoPro", "gopro_test/GoPro"), IO),
)

HIDE = (
    Layout(
        "official",
        ("HIDE_dataset", "HIDE"),
        Rule(
            inputs=("test/*/*",),
            match=r"test/(?P<part>[^/]+)/(?P<stem>[^/]+)\.png",
            target="GT/{stem}.png",
            extras=None,  # GT also holds the training split's sharp images
            describe="test/{test-close-ups,test-long-shot}/X.png -> GT/X.png",
        ),
    ),
    Layout("restormer", ("Motion_Deblurring/Datasets/test/HIDE", "Datasets/test/HIDE", "test/HIDE", "HIDE"), IO),
)

_LOW_HIGH = io_rule("low", "high")
LOL_V1 = (
    Layout("official", ("LOLdataset/eval15", "LOL/eval15", "LOL-v1/eval15", "LOLv1/eval15", "lol_dataset/eval15"), _LOW_HIGH),
    Layout("promptir", ("test/enhance/lol",), IO),
    Layout("adair", ("data/test/enhance/lol",), IO),
    Layout("instructir", ("data/LOL/eval15",), _LOW_HIGH),
    Layout("flat", ("LOL",), _LOW_HIGH),
)

LOL_V2_REAL = (
    Layout(
        "official",
        ("LOL-v2/Real_captured/Test", "LOLv2/Real_captured/Test", "LOL_v2/Real_captured/Test", "LOL-v2-real/Test"),
        Rule(
            inputs=("Low/*",),
            match=r"Low/low(?P<n>\d+)\.png",
            target="Normal/normal{n}.png",
            image_id="{n}",
            extras="Normal/*",
            describe="Low/lowNNNNN.png -> Normal/normalNNNNN.png",
        ),
    ),
)


def _snow100k(s: str) -> tuple[Layout, ...]:
    d = f"Snow100K-{s}"
    return (
        Layout(
            "official",
            (f"Snow100K/test/{d}", f"test/{d}", d, f"Snow100K-testset/{d}", f"media/jdway/GameSSD/overlapping/test/{d}"),
            io_rule("synthetic", "gt"),
        ),
    )


CSD = (
    Layout("official", ("CSD/Test", "CSD/test"), io_rule("Snow", "Gt")),
    Layout("test2000", ("test2000", "CSD/test2000"), io_rule("Snow", "Gt")),
)

CDD11_SUBSETS = (
    "low", "haze", "rain", "snow", "low_haze", "low_rain", "low_snow",
    "haze_rain", "haze_snow", "low_haze_rain", "low_haze_snow",
)
_CDD11_ROOTS = ("CDD-11_test", "CDD_11_test", "CDD-11/test", "CDD11/test", "CDD-11_test_100")


def _cdd11(subsets: tuple[str, ...]) -> tuple[Layout, ...]:
    many = len(subsets) > 1
    alternatives = "|".join(subsets)
    return (
        Layout(
            "official",
            _CDD11_ROOTS,
            Rule(
                inputs=tuple(f"{s}/*" for s in subsets),
                match=rf"(?P<sub>{alternatives})/{ANY}",
                target="clear/{stem}.{ext}",
                image_id="{sub}-{stem}" if many else "{stem}",
                extras="clear/*" if many else None,  # every subset shares clear/
                describe=("{" + ",".join(subsets) + "}" if many else subsets[0]) + "/X -> clear/X",
            ),
        ),
    )


# --- the rows ------------------------------------------------------------------------------------

_DEG = {"low": "lowlight", "haze": "haze", "rain": "rain", "snow": "snow"}
_SINGLE_TASK = {"low": "lowlight", "haze": "dehaze", "rain": "derain", "snow": "desnow"}


def _rows() -> list[SetSpec]:
    rows = [
        SetSpec("rain100l", "derain", 100, ("rain",), "rain100l", _rain100("Rain100L"),
                "Rain100L test: 100 light-rain pairs (~481x321)", "Rain100L (Yang et al., JORDER)"),
        SetSpec("rain100h", "derain", 100, ("rain",), "rain100h", _rain100("Rain100H"),
                "Rain100H test: 100 heavy-rain pairs (~481x321)", "Rain100H (Yang et al., JORDER)"),
        SetSpec("sots-outdoor", "dehaze", 500, ("haze",), "sots-outdoor", _sots(),
                "RESIDE SOTS outdoor: 500 hazy/clear pairs", "RESIDE (v0) SOTS outdoor"),
        SetSpec("gopro", "deblur", 1111, ("blur",), "gopro", GOPRO,
                "GoPro test: 1111 blurry/sharp frames 1280x720 (blur, not blur_gamma)", "GOPRO_Large (Nah et al.)"),
        SetSpec("hide", "deblur", 2025, ("blur",), "hide", HIDE,
                "HIDE test: 2025 blurry/sharp pairs 1280x720", "HIDE dataset (Shen et al.)"),
        SetSpec("lol-v1", "lowlight", 15, ("lowlight",), "lol-v1", LOL_V1,
                "LOL v1 eval15: 15 low/normal-light pairs 600x400", "LOL (LOLdataset, Wei et al.)"),
        SetSpec("lol-v2-real", "lowlight", 100, ("lowlight",), "lol-v2-real", LOL_V2_REAL,
                "LOL-v2 Real_captured test: 100 pairs 600x400", "LOL-v2 (Yang et al.)"),
    ]
    for s, n in (("s", 16611), ("m", 16588), ("l", 16801)):
        rows.append(SetSpec(f"snow100k-{s}", "desnow", n, ("snow",), f"snow100k-{s}", _snow100k(s.upper()),
                            f"Snow100K test, {s.upper()} subset: {n} snowy/clean pairs", "Snow100K (DesnowNet)"))
    rows.append(SetSpec("csd", "desnow", 2000, ("snow",), "csd", CSD,
                        "CSD test: 2000 snowy/clean pairs 640x480", "CSD (Comprehensive Snow Dataset, HDCW-Net)"))
    for sigma in (15, 25, 50):
        rows.append(SetSpec(f"cbsd68-s{sigma}", "denoise", 68, ("noise",), "cbsd68", CBSD68,
                            f"CBSD68 ('BSD68'): 68 clean 481x321 images + Gaussian noise sigma {sigma} at test time",
                            "CBSD68 (colour BSD68)", testtime=("noise", {"sigma": sigma})))
    for family, layouts, n, what in (
        ("live1", LIVE1, 29, "LIVE1: 29 colour images"),
        ("classic5", CLASSIC5, 5, "Classic5: 5 grey images"),
        ("bsds500", BSDS500, 200, "BSDS500 test: 200 colour images"),
    ):
        for q in (10, 20, 30, 40):
            rows.append(SetSpec(f"{family}-q{q}", "jpeg", n, ("jpeg",), family, layouts,
                                f"{what}, JPEG quality {q} at test time (Pillow)", what.split(":")[0],
                                testtime=("jpeg", {"quality": q})))
    rows.append(SetSpec("kodak24-4bit", "bitdepth", 24, ("bitdepth",), "kodak24", KODAK24,
                        "Kodak24: 24 images 768x512 quantised to 4 bits at test time", "Kodak PhotoCD (kodim01..24)",
                        testtime=("bitdepth", {"bits": 4})))
    rows += [
        SetSpec("gopro-blur+noise25", "mixed", 1111, ("blur", "noise"), "gopro", GOPRO,
                "GoPro test blur + Gaussian noise sigma 25 (generated, seeded)", "GOPRO_Large",
                recipe=(("noise", {"sigma": 25.0}),)),
        SetSpec("gopro-blur+jpeg20", "mixed", 1111, ("blur", "jpeg"), "gopro", GOPRO,
                "GoPro test blur + JPEG quality 20 (generated)", "GOPRO_Large",
                recipe=(("jpeg", {"quality": 20}),)),
        SetSpec("sots-haze+snow", "mixed", 500, ("haze", "snow"), "sots-outdoor", _sots(),
                "SOTS outdoor haze + synthetic snow (generated, seeded)", "RESIDE (v0) SOTS outdoor",
                recipe=(("snow", {}),)),
    ]
    rows.append(SetSpec("cdd11", "mixed", 200 * len(CDD11_SUBSETS), ("lowlight", "haze", "rain", "snow"), "cdd11",
                        _cdd11(CDD11_SUBSETS), "CDD-11 test: all 11 degraded subsets vs clear (~200 each)",
                        "CDD-11 (OneRestore)"))
    for sub in CDD11_SUBSETS:
        parts = sub.split("_")
        task = _SINGLE_TASK[sub] if len(parts) == 1 else "mixed"
        rows.append(SetSpec(f"cdd11-{'+'.join(parts)}", task, 200, tuple(_DEG[p] for p in parts), "cdd11",
                            _cdd11((sub,)), f"CDD-11 test subset '{sub}' vs clear", "CDD-11 (OneRestore)"))
    return rows


SPLITS = ("test", "train", "corpus")


def _all_rows() -> list[SetSpec]:
    from .trainsets import training_rows  # imports the rules above; table.py must be loaded this far

    return _rows() + training_rows()


SETS: dict[str, SetSpec] = {row.name: row for row in _all_rows()}
FAMILIES: dict[str, tuple[Layout, ...]] = {}
for _row in SETS.values():
    FAMILIES.setdefault(_row.family, _row.layouts)

SUITES: dict[str, list[str]] = {
    # Table 1 (five degradations)
    "paper-5deg": ["rain100l", "sots-outdoor", "cbsd68-s25", "gopro", "lol-v1"],
    # Table 2 (three degradations: the AirNet/PromptIR setting)
    "paper-3deg": ["rain100l", "sots-outdoor", "cbsd68-s15", "cbsd68-s25", "cbsd68-s50"],
    # Table 3 (additional test sets of the learned degradations)
    "paper-extra": ["rain100h", "hide", "lol-v2-real"],
    # Table 4 (unseen tasks; the paper does not say which sets: these are the suite's choice)
    "paper-unseen": ["kodak24-4bit", "live1-q20", "snow100k-l"],
    # Table 5 (mixed degradations; generated here with a published, seeded recipe)
    "paper-mixed": ["gopro-blur+noise25", "gopro-blur+jpeg20", "sots-haze+snow"],
}
