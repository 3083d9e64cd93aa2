"""Reports for managers and ops: what the pipeline holds, how deals convert and stall, what blocks them."""
