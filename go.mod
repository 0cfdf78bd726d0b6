module github.com/encours/encours

go 1.26
