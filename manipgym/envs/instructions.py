"""Instruction templates per task and template set. ``{obj}`` is "<colour> <shape>" and
``{goal}`` the goal's colour. Plain data: importing it loads no simulator."""

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "Lift": {
        "train": (
            "pick up the {obj}",
            "lift the {obj}",
            "grab the {obj} and raise it",
            "raise the {obj} off the table",
        ),
        "ood": (
            "hoist the {obj} into the air",
            "get the {obj} up off the surface",
            "elevate the {obj}",
        ),
    },
    "PickPlace": {
        "train": (
            "put the {obj} on the {goal} plate",
            "place the {obj} onto the {goal} plate",
            "move the {obj} to the {goal} plate",
            "pick up the {obj} and put it on the {goal} plate",
        ),
        "ood": (
            "transfer the {obj} onto the {goal} plate",
            "set the {obj} down on the {goal} plate",
            "the {obj} belongs on the {goal} plate",
        ),
    },
    "Push": {
        "train": (
            "push the {obj} to the {goal} circle",
            "slide the {obj} onto the {goal} circle",
            "push the {obj} until it is on the {goal} circle",
            "nudge the {obj} over to the {goal} circle",
        ),
        "ood": (
            "shove the {obj} into the {goal} circle",
            "slide the {obj} across until it rests in the {goal} circle",
            "the {obj} should end up inside the {goal} circle: push it there",
        ),
    },
    "Stack": {
        "train": (
            "stack the {obj} on the {goal} block",
            "put the {obj} on top of the {goal} block",
            "place the {obj} onto the {goal} block",
            "pick up the {obj} and stack it on the {goal} block",
        ),
        "ood": (
            "balance the {obj} on the {goal} block",
            "set the {obj} on top of the {goal} block",
            "the {obj} goes on the {goal} block",
        ),
    },
}
