"""The training sets as data: clean corpora (``split="corpus"``, Phase I pre-training) and task
training sets (``split="train"``, Phase II), one row per set, one rule per on-disk layout.

Same conventions as :mod:`.table` (rules relative to the set's folder, roots relative to the data
root, matched case-insensitively). Layouts besides the official ones:

- ``promptir``: PromptIR / AirNet / AdaIR ``data/Train/{Denoise,Derain,Dehaze}`` (AdaIR adds
  ``Deblur/{blur,sharp}`` and ``Enhance/{low,gt}``); ``Train/...`` when the data root is ``data/``;
- ``5task``: the five-task tree ``data/train/{Denoise/{BSD,WED}, GOPRO/train, LOL/our485,
  Rain200L/train, RESIDE/OTS/{clear/clear,haze/part1..4}}`` (also without ``data/`` or ``data/train/``).

``gldv2-train`` and ``gldv2-train-clean`` (Google Landmarks v2) are listed by an index built once
(:mod:`.gldv2`), not by their rule. Counts are the sizes of the published sets (images for clean-only rows, pairs otherwise); RESIDE
OTS has no fixed size (copies hold different subsets, several hazy images per clear one), so its
rows have ``count=None`` and report what they find.
"""

from __future__ import annotations

from .table import _EXT, ANY, GOPRO, Layout, Rule, SetSpec, io_rule

_PROMPTIR = ("data/Train", "Train")
_FIVE_TASK = ("data/train", "train", "")


def _under(bases: tuple[str, ...], rel: str) -> tuple[str, ...]:
    return tuple(f"{b}/{rel}" if b else rel for b in bases)


def _clean(match: str, describe: str, inputs: tuple[str, ...] = ("*",), exclude: str | None = None) -> Rule:
    return Rule(inputs=inputs, match=match, target=None, describe=describe, exclude=exclude)


ANY_IMAGE = _clean(ANY, "any image file")

# --- clean corpora --------------------------------------------------------------------------------

DIV2K = (
    Layout("official", ("DIV2K_train_HR", "DIV2K/DIV2K_train_HR", "datasets/DIV2K/DIV2K_train_HR", "DF2K/DIV2K_train_HR"),
           _clean(r"(?P<stem>\d{4})\.png", "NNNN.png (0001..0800)")),
)
FLICKR2K = (
    Layout("official", ("Flickr2K/Flickr2K_HR", "Flickr2K_HR", "datasets/Flickr2K/Flickr2K_HR", "DF2K/Flickr2K_HR", "Flickr2K"),
           _clean(r"(?P<stem>\d{6})\.png", "NNNNNN.png (000001..002650)")),
)
LSDIR = (
    Layout("official", ("LSDIR/HR/train", "LSDIR/train/HR", "HR/train"),
           _clean(r"(?P<shard>\d{7})/(?P<stem>\d{7})\.png", "SSSSSSS/NNNNNNN.png (shard folders 0001000..0085000)",
                  inputs=("*/*",))),
    Layout("flat", ("LSDIR_train_HR", "LSDIR/HR/train", "LSDIR/train", "LSDIR"),
           _clean(r"(?P<stem>\d{7})\.png", "NNNNNNN.png (shard folders flattened)")),
)

_WED_NAME = r"\d{5}\.(?:bmp|png)"
_NOT_WED = rf"(?!{_WED_NAME}$)[^/]+"  # every other file of a folder shared by BSD400 and WED

BSD400 = (
    Layout("bsds500", ("BSR/BSDS500/data/images", "BSDS500/data/images", "BSDS500"),
           _clean(rf"(?:train|val)/{ANY}", "{train,val}/X.jpg (BSDS500 train + val)", inputs=("train/*", "val/*"))),
    Layout("folder", ("BSD400", "Train400", "data/Train400", "trainsets/BSD400", "Denoise/BSD400", "data/train"),
           ANY_IMAGE),  # DnCNN: data/Train400 (MATLAB), data/train (PyTorch ports): test_001.png ..
    Layout("promptir", _under(_PROMPTIR, "Denoise"),
           _clean(ANY, "X (every file but WED's NNNNN.bmp)", exclude=_WED_NAME)),
    Layout("5task", _under(_FIVE_TASK, "Denoise/BSD"),
           _clean(rf"(?:original/)?{ANY}", "X or original/X", inputs=("*", "original/*"))),
)
WED = (
    Layout("official", ("exploration_database_and_code/pristine_images", "WED/pristine_images", "pristine_images",
                        "Waterloo_Exploration/pristine_images", "WED"),
           _clean(r"(?P<stem>\d{5})\.(?P<ext>bmp|png)", "NNNNN.bmp (00001..04744)")),
    Layout("promptir", _under(_PROMPTIR, "Denoise"),
           _clean(r"(?P<stem>\d{5})\.(?P<ext>bmp|png)", "NNNNN.bmp (other files: BSD400)", exclude=_NOT_WED)),
    Layout("5task", _under(_FIVE_TASK, "Denoise/WED"),
           _clean(r"(?:original/)?(?P<stem>\d{5})\.(?P<ext>bmp|png)", "NNNNN.bmp or original/NNNNN.png",
                  inputs=("*", "original/*"))),
)
BSD400_WED = (
    Layout("promptir", _under(_PROMPTIR, "Denoise"), _clean(ANY, "BSD400 and WED images in one folder")),
    Layout("5task", _under(_FIVE_TASK, "Denoise"),
           _clean(rf"(?:BSD|WED)/(?:original/)?{ANY}", "{BSD,WED}/X or {BSD,WED}/original/X",
                  inputs=("BSD/*", "BSD/original/*", "WED/*", "WED/original/*"))),
)

_OTS_ID = r"\d+\.(?:jpe?g|png)"
OTS_CLEAN = (
    Layout("official", ("OTS/clear", "RESIDE/OTS/clear", "OTS_BETA/clear", "RESIDE-beta/OTS/clear"),
           _clean(rf"(?P<stem>\d+)\.{_EXT}", "NNNN.jpg")),
    Layout("5task", _under(_FIVE_TASK, "RESIDE/OTS/clear/clear"), _clean(rf"(?P<stem>\d+)\.{_EXT}", "NNNN.jpg")),
    Layout("promptir", _under(_PROMPTIR, "Dehaze/original"), _clean(rf"(?P<stem>\d+)\.{_EXT}", "NNNN.jpg|png")),
)

# Google Landmarks v2: the folder holding train/ (the extracted images_NNN.tar shards) and the metadata
# lists; the files are listed by an index built once (bench.datasets.real.gldv2), not by this rule
GLDV2 = (
    Layout("official", ("gldv2", "google-landmark", "google-landmarks", "google-landmarks-v2"),
           _clean(r"train/[0-9a-f]/[0-9a-f]/[0-9a-f]/(?P<stem>[0-9a-f]{16})\.jpg",
                  "train/<a>/<b>/<c>/<16 hex id>.jpg + train.csv / train_clean.csv", inputs=("train/*",))),
)

# --- task training sets ---------------------------------------------------------------------------


def _ots(hazy: str, clear: str) -> Rule:
    """``hazy/[partK/]ID_A_beta.jpg -> clear/ID.jpg|png`` (several hazy images per clear one)."""
    return Rule(
        inputs=(f"{hazy}/*", f"{hazy}/*/*"),
        match=rf"{hazy}/(?:[^/]+/)?(?P<n>\d+)_(?P<a>[\d.]+)_(?P<b>[\d.]+)\.(?:jpe?g|png)",
        target=f"{clear}/{{n}}",
        target_exts=("jpg", "png", "jpeg"),
        image_id="{n}_{a}_{b}",
        extras=f"{clear}/*",
        describe=f"{hazy}/partK/ID_A_beta.jpg -> {clear}/ID.jpg|png",
    )


OTS_TRAIN = (
    Layout("5task", _under(_FIVE_TASK, "RESIDE/OTS"), _ots("haze", "clear/clear")),  # before official: needs clear/clear
    Layout("official", ("OTS", "RESIDE/OTS", "OTS_BETA", "RESIDE-beta/OTS", "RESIDE/OTS_BETA"), _ots("haze", "clear")),
    Layout("promptir", _under(_PROMPTIR, "Dehaze"), _ots("synthetic", "original")),
)

_RAIN_GT = Rule(
    inputs=("rainy/*",), match=r"rainy/rain-(?P<n>\d+)\.png", target="gt/norain-{n}.png", image_id="rain-{n}",
    extras="gt/*", describe="rainy/rain-N.png -> gt/norain-N.png",
)
_RAIN_ROOT = Rule(
    inputs=("rainy/*",), match=r"rainy/rain-(?P<n>\d+)\.png", target="norain-{n}.png", image_id="rain-{n}",
    extras="*", describe="rainy/rain-N.png -> norain-N.png",
)
_RAIN_FLAT = Rule(
    inputs=("*",), match=r"rain-(?P<n>\d+)\.png", target="norain-{n}.png", image_id="rain-{n}", extras="*",
    exclude=r"norain-\d+\.png", side=r"rain(?:region|streak)-\d+\.png",
    describe="rain-N.png -> norain-N.png in one folder (rainregion-/rainstreak- masks ignored)",
)
_RAIN_TRAIN_L = ("RainTrainL", "train/RainTrainL", "datasets/train/RainTrainL", "Rain100L/train", "Rain100L_train",
                 "Train100L", "Rain100L-train")
RAIN100L_TRAIN = (
    Layout("promptir", _under(_PROMPTIR, "Derain"), _RAIN_GT),
    Layout("official-gt", _RAIN_TRAIN_L, _RAIN_GT),
    Layout("official-rainy", _RAIN_TRAIN_L, _RAIN_ROOT),
    Layout("official", _RAIN_TRAIN_L, _RAIN_FLAT),
)
RAIN200L_TRAIN = (
    Layout("5task", _under(_FIVE_TASK, "Rain200L/train") + ("RainTrainL_1800", "rain_data_train_Light"),
           Rule(inputs=("rain/*", "rain/X2/*"), match=r"rain/(?:X2/)?norain-(?P<n>\d+)x2\.png",
                target="norain/norain-{n}.png", image_id="norain-{n}", extras="norain/*",
                describe="rain/[X2/]norain-Nx2.png -> norain/norain-N.png")),
)
GOPRO_TRAIN = (
    Layout("official", ("GOPRO_Large/train", "GoPro_Large/train", "GOPRO/train", "GoPro/train")
           + _under(_FIVE_TASK[:2], "GOPRO/train"), GOPRO[0].rule),
    Layout("adair", _under(_PROMPTIR, "Deblur"), io_rule("blur", "sharp")),
)
LOL_V1_TRAIN = (
    Layout("official", ("LOLdataset/our485", "LOL/our485", "LOL-v1/our485", "LOLv1/our485", "lol_dataset/our485")
           + _under(_FIVE_TASK[:2], "LOL/our485"), io_rule("low", "high")),
    Layout("adair", _under(_PROMPTIR, "Enhance"), io_rule("low", "gt")),
)


_GLDV2_GET = ("Google Landmarks v2 (Weyand et al.): 'bash download-dataset.sh train 499' of cvdfoundation/google-landmark "
              "in DIR/train, train.csv and train_clean.csv from its metadata links in DIR")


def training_rows() -> list[SetSpec]:
    """Every training row: clean corpora first, then the task training sets."""

    def corpus(name, count, layouts, summary, download, family=None):
        return SetSpec(name, "clean", count, (), family or name, layouts, summary, download, split="corpus")

    def train(name, task, count, degradation, layouts, summary, download):
        return SetSpec(name, task, count, (degradation,), name, layouts, summary, download, split="train")

    return [
        corpus("div2k-train", 800, DIV2K, "DIV2K train HR: 800 clean 2K images",
               "DIV2K (NTIRE 2017), DIV2K_train_HR.zip"),
        corpus("flickr2k", 2650, FLICKR2K, "Flickr2K HR: 2,650 clean 2K images",
               "Flickr2K (Lim et al., EDSR), Flickr2K.tar"),
        corpus("lsdir-train", 84991, LSDIR, "LSDIR train HR: 84,991 clean images in 85 shard folders",
               "LSDIR (Li et al., CVPRW 2023), HR train shards (ofsoundof/LSDIR on Hugging Face)"),
        corpus("bsd400", 400, BSD400, "BSD400: the 400 BSDS500 train+val images (clean)",
               "BSDS500 (BSR_bsds500.tgz) train+val, or PromptIR's BSD400 link (INSTALL.md)"),
        corpus("wed", 4744, WED, "Waterloo Exploration Database: 4,744 clean pristine images",
               "Waterloo Exploration Database (Ma et al.), exploration_database_and_code.rar"),
        corpus("ots-clean", None, OTS_CLEAN, "RESIDE OTS clear images (size depends on the copy)",
               "RESIDE-beta OTS (Li et al.), clear images"),
        corpus("gldv2-train", 4132914, GLDV2, "Google Landmarks v2 train: 4,132,914 web photos (~500 GB), train.csv",
               _GLDV2_GET, family="gldv2"),
        corpus("gldv2-train-clean", 1580470, GLDV2,
               "Google Landmarks v2 train, cleaned subset of train_clean.csv: ~1.6M photos", _GLDV2_GET, family="gldv2"),
        train("rain100l-train", "derain", 200, "rain", RAIN100L_TRAIN, "Rain100L train (RainTrainL): 200 rainy/clean pairs",
              "RainTrainL (Yang et al., JORDER), or PromptIR's Train100L link (INSTALL.md)"),
        train("rain200l-train", "derain", 1800, "rain", RAIN200L_TRAIN, "Rain200L train: 1,800 rainy/clean pairs",
              "Rain200L / RainTrainL-1800 (Yang et al., JORDER, updated release)"),
        train("ots-train", "dehaze", None, "haze", OTS_TRAIN,
              "RESIDE OTS: hazy/clear pairs, several hazy images per clear one (no fixed size)",
              "RESIDE-beta OTS (Li et al.): clear + haze part1..part4"),
        train("bsd400+wed", "denoise", 5144, "noise", BSD400_WED,
              "BSD400 + WED: 5,144 clean images, Gaussian noise added while training",
              "BSD400 and WED links in PromptIR's INSTALL.md"),
        train("gopro-train", "deblur", 2103, "blur", GOPRO_TRAIN,
              "GoPro train: 2,103 blurry/sharp frames 1280x720 in 22 sequences (blur, not blur_gamma)",
              "GOPRO_Large (Nah et al.), train split"),
        train("lol-v1-train", "lowlight", 485, "lowlight", LOL_V1_TRAIN, "LOL v1 our485: 485 low/normal-light pairs 600x400",
              "LOL (LOLdataset, Wei et al.), our485"),
    ]
