"""Stage 4, judging: controls evaluated on evidence (engine), scores, framework verdicts, waivers and gates."""
