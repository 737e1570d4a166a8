"""The guided lessons of the sandbox, as data: each sets the controls, the time point and the view.

``controls`` is merged over :data:`sim.sandbox.server.DEFAULT_CONTROLS`; ``time_h`` must be one of the live
scan times (:data:`sim.sandbox.server.LIVE_SCANS_H`); ``view`` chooses what the page shows (``delta``: FC as
change from the condition's own baseline; ``focus``: the view the page scrolls to). ``text`` is a list of
paragraphs for students; ``try`` suggests what to change next. notebooks/tutorial.ipynb walks through the
same lessons with the Python API.
"""

from __future__ import annotations

LESSONS: tuple[dict, ...] = (
    {
        "id": "dmn",
        "title": "1. What is the default-mode network?",
        "controls": {"phenotype": "healthy", "treatment": "none"},
        "time_h": -24.0,
        "view": {"delta": False, "focus": "brain"},
        "text": [
            "The default-mode network (DMN, yellow dots) is a set of regions that are most active when you are "
            "not doing a task: daydreaming, remembering, thinking about yourself. Its hubs are the posterior "
            "cingulate cortex (PCC) at the back of the midline, the medial prefrontal cortex (mPFC) at the front, "
            "the angular gyri (AG) on the sides and the hippocampi (HIP).",
            "Each dot is one region, drawn at its real position (MNI coordinates) from the side (sagittal) and "
            "from above (axial). In the model every region is an oscillator whose slow signal plays the role of "
            "the fMRI (BOLD) signal. Functional connectivity (FC) is the correlation of two regions' signals "
            "over a scan: red lines = they rise and fall together, blue lines = one rises when the other falls.",
            "In the FC matrix the top-left block (DMN with DMN) is warm: DMN regions fluctuate together.",
        ],
        "try": [
            "Move 'coupling strength' to 0: the regions are no longer connected and the red block fades. "
            "In this model FC is made by the connections, not by a common drive.",
            "Change the cohort size: each virtual subject has slightly different connections, and the cohort "
            "mean gets smoother with more subjects.",
        ],
    },
    {
        "id": "anticorrelation",
        "title": "2. What does anticorrelation mean?",
        "controls": {"phenotype": "healthy", "treatment": "none"},
        "time_h": -24.0,
        "view": {"delta": False, "focus": "fc"},
        "text": [
            "Look at the block where DMN rows meet task-positive (TPN) columns: it is blue. The DMN and the TPN "
            "(dorsolateral prefrontal cortex DLPFC, intraparietal sulcus IPS; purple dots) are anticorrelated: "
            "when one network's signal goes up, the other's tends to go down (Fox 2005). A correlation of "
            "-0.25 means a weak but consistent see-saw, not that one network is 'off'.",
            "In the model the see-saw comes from cross-inhibition: each network excites the other's inhibitory "
            "interneurons (Anticevic 2012). Beware: real fMRI studies often remove the global signal (GSR), "
            "which shifts every correlation downward; this model does not, so compare its signs with non-GSR data.",
        ],
        "try": [
            "Read the value on the 'FC between DMN and TPN' panel; then set the phenotype to 'depressed "
            "(hyperconnected DMN)': the cross-inhibition is weaker (x0.6) and the anticorrelation shrinks.",
            "Raise the coupling strength: both the positive block and the negative block grow.",
        ],
    },
    {
        "id": "first_hour",
        "title": "3. What NMDA antagonism does in the first hour",
        "controls": {"phenotype": "depressed_hyper", "treatment": "ketamine_single", "dose_mg_per_kg": 0.5},
        "time_h": 0.33,
        "view": {"delta": True, "focus": "brain"},
        "text": [
            "Ketamine blocks NMDA receptors. The inhibitory interneurons depend on them strongly, so the first "
            "effect is disinhibition: the brakes are released (Homayoun & Moghaddam 2007). In the model the drive "
            "onto interneurons (and with it the cross-inhibition between networks) is scaled by (1 - block).",
            "The time point is 20 minutes into the 40-minute infusion. The brain views and matrices now show the "
            "CHANGE from this group's own baseline scan: the see-saw between DMN and TPN weakens (the blue "
            "DMN-TPN links turn towards red), as Anticevic 2012 measured during infusion in healthy volunteers.",
            "The drug panel under the time courses shows plasma level and NMDA block: both peak at the end of "
            "the infusion.",
        ],
        "try": [
            "Switch the mechanism 'disinhibition' off: the acute change disappears, although the drug is in the blood.",
            "Set the dose to 1.0 mg/kg: the block, and the change, get larger.",
            "Choose 'saline placebo': nothing happens - the change you saw was the drug, not the scanner.",
        ],
    },
    {
        "id": "days",
        "title": "4. Why the effect lasts days although the drug is gone in hours",
        "controls": {"phenotype": "depressed_hyper", "treatment": "ketamine_single", "dose_mg_per_kg": 0.5},
        "time_h": 48.0,
        "view": {"delta": True, "focus": "metrics"},
        "text": [
            "Ketamine leaves the blood within hours (half-life about 2-3 h); at 24 h the plasma level is below "
            "1 ng/mL. Yet patients feel better for days. The drug panel shows why the model can still change: "
            "the NMDA block briefly triggers a glutamate surge that starts a slow chain (BDNF, mTOR, new synapses) "
            "which peaks about two days later and fades over a week (Li 2010; Moda-Sava 2019).",
            "In the model this 'plasticity' state strengthens prefrontal control over the DMN and weakens the "
            "sgACC-DMN link. Look at the time courses: the red line keeps moving after the plasma is gone.",
            "This chain is a hypothesis written into the config (configs/drug/ketamine.yaml), not a measured fact.",
        ],
        "try": [
            "Switch 'plasticity' off: the day-2 change vanishes. Switch it back on and 'trapping' off: the block "
            "ends sooner, the surge is shorter and the late effect is smaller.",
            "Move the time point to 14 and 28 days: the effect fades as the new synapses are lost.",
        ],
    },
    {
        "id": "repeated",
        "title": "5. Repeated dosing",
        "controls": {"phenotype": "depressed_hyper", "treatment": "ketamine_repeated", "dose_mg_per_kg": 0.5},
        "time_h": 264.0,
        "view": {"delta": True, "focus": "metrics"},
        "text": [
            "Clinics often give a course of six infusions over 12 days (Murrough 2013). The grey ticks on the time "
            "axes mark each infusion. Each dose tops up the plasticity state before it has decayed, so it builds "
            "up and stays high while the course lasts; it saturates, so six doses are not six times one dose.",
            "The time point is day 11, just before the last infusion.",
        ],
        "try": [
            "Switch to 'ketamine, one infusion' and compare day 11: the single dose's effect is almost gone.",
            "Try the weekly schedule: the state rises and falls in a saw-tooth.",
            "Try 'TMS course': a non-drug treatment that drives a similar slow state through left DLPFC.",
        ],
    },
    {
        "id": "contradictions",
        "title": "6. Where the claims contradict each other",
        "controls": {"phenotype": "depressed_hyper", "treatment": "ketamine_single", "dose_mg_per_kg": 0.5},
        "time_h": 24.0,
        "view": {"delta": True, "focus": "claims"},
        "text": [
            "Websites about ketamine make claims such as 'ketamine increases PCC-mPFC connectivity' and "
            "'ketamine decreases PCC-mPFC connectivity'. The claims table tests each claim on the current "
            "settings: the same contrast (ketamine vs saline, each against its own baseline) in the claim's time "
            "window, with a 95 % confidence interval across the virtual subjects.",
            "The pairs at the top are claims that contradict each other. Often both can be 'true' - at different "
            "times (during the infusion vs. days later), in different people (hyper- vs hypo-connected depression) "
            "or only if a mechanism is switched on. The live cohort is small, so many claims come out "
            "'not reproduced' simply because the interval is wide: that is a lesson about sample size too.",
        ],
        "try": [
            "Switch the phenotype to 'depressed (hypoconnected DMN)' and watch which verdicts change.",
            "Switch 'plasticity' off: claims about days 1-7 lose their support; claims about the infusion keep it.",
            "Raise the cohort size to 16 and see intervals shrink (the run takes longer).",
        ],
    },
)
