from tutorbook_evals.answers.cli import main

main()
