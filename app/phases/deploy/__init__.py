"""Deploy: the presentation, objections, the customer's acceptance, and the follow-up."""
